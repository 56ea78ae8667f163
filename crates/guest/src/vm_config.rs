//! A QEMU guest's config (`nodes/<node>/qemu-server/<vmid>.conf`), validated.

use brigade_core::key_value::KeyValueConfig;
use serde::{Deserialize, Serialize};

use crate::error::{GuestError, Result};
use crate::lock::GuestLock;
use crate::options::{parse_bool, parse_int, PropertyString};
use crate::protection::{parse_protection, PROTECTION_KEY};
use crate::size;
use crate::volume::VolumeId;

/// Smallest memory accepted, MiB.
pub const MEMORY_MIN_MIB: u64 = 16;
/// Largest memory accepted, MiB (4 TiB, Proxmox's limit).
pub const MEMORY_MAX_MIB: u64 = 4 * 1024 * 1024;
/// Memory when the config has none, MiB (as `qm create`).
pub const DEFAULT_MEMORY_MIB: u64 = 512;

/// The bus a disk hangs on, with how many slots Proxmox allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskBus {
    Scsi,
    Virtio,
    Ide,
    Sata,
}

impl DiskBus {
    const ALL: [(DiskBus, &'static str, u32); 4] = [
        (DiskBus::Scsi, "scsi", 31),
        (DiskBus::Virtio, "virtio", 16),
        (DiskBus::Ide, "ide", 4),
        (DiskBus::Sata, "sata", 6),
    ];
}

/// Splits `scsi3` into (`scsi`, 3) if `prefix` matches and the index is below `count`.
fn slot_index(key: &str, prefix: &str, count: u32) -> Option<u32> {
    let digits = key.strip_prefix(prefix)?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let n: u32 = digits.parse().ok()?;
    (n < count).then_some(n)
}

/// Options a disk line accepts after its volume.
const DISK_OPTIONS: &[&str] = &[
    "size", "format", "cache", "discard", "iothread", "ssd", "media", "backup", "aio",
];
/// Options a network line accepts.
const NET_OPTIONS: &[&str] = &[
    "bridge",
    "firewall",
    "tag",
    "link_down",
    "rate",
    "mtu",
    "queues",
];
/// NIC models accepted.
const NET_MODELS: &[&str] = &["virtio", "e1000", "rtl8139", "vmxnet3"];
/// Keys Proxmox writes that brigade keeps but does not act on.
const PASSIVE_KEYS: &[&str] = &[
    "ostype",
    "machine",
    "smbios1",
    "vmgenid",
    "meta",
    "agent",
    "bios",
    "scsihw",
    "numa",
    "tags",
    "boot",
    "balloon",
    "cpuunits",
    "hotplug",
    "description",
];

/// A disk: `scsi0: local:100/vm-100-disk-0.qcow2,size=1G`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    pub slot: String,
    pub bus: DiskBus,
    pub index: u32,
    pub volume: VolumeId,
    pub size_bytes: Option<u64>,
    pub cache: Option<String>,
    pub cdrom: bool,
}

impl Disk {
    fn parse(slot: &str, bus: DiskBus, index: u32, value: &str) -> Result<Disk> {
        let p = PropertyString::parse(slot, value, DISK_OPTIONS)?;
        let vol = p.positional.as_deref().ok_or_else(|| {
            GuestError::Invalid(format!("{slot}: missing the volume (STORAGE:VOLUME)"))
        })?;
        let volume =
            VolumeId::parse(vol).map_err(|e| GuestError::Invalid(format!("{slot}: {e}")))?;
        let size_bytes = p.get("size").map(size::parse_bytes).transpose()?;
        let cache = p.get("cache").map(str::to_string);
        if let Some(c) = &cache {
            if !["none", "writeback", "writethrough", "directsync", "unsafe"].contains(&c.as_str())
            {
                return Err(GuestError::Invalid(format!(
                    "{slot}: unknown cache mode {c:?}"
                )));
            }
        }
        let cdrom = match p.get("media") {
            None | Some("disk") => false,
            Some("cdrom") => true,
            Some(m) => {
                return Err(GuestError::Invalid(format!("{slot}: unknown media {m:?}")));
            }
        };
        Ok(Disk {
            slot: slot.to_string(),
            bus,
            index,
            volume,
            size_bytes,
            cache,
            cdrom,
        })
    }
}

/// A network device: `net0: virtio=BC:24:11:00:00:01,bridge=vmbr0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Net {
    pub slot: String,
    pub index: u32,
    pub model: String,
    pub mac: Option<String>,
    pub bridge: Option<String>,
    /// `mtu=`: the guest's device gets it (virtio's `host_mtu`).
    #[serde(default)]
    pub mtu: Option<u32>,
}

/// Whether `s` is a MAC address `XX:XX:XX:XX:XX:XX`.
pub fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl Net {
    fn parse(slot: &str, index: u32, value: &str) -> Result<Net> {
        // The first item is `model` or `model=MAC`.
        let (first, rest) = value.split_once(',').unwrap_or((value, ""));
        let (model, mac) = match first.split_once('=') {
            Some((m, mac)) => (m, Some(mac)),
            None => (first, None),
        };
        if !NET_MODELS.contains(&model) {
            return Err(GuestError::Invalid(format!(
                "{slot}: unknown NIC model {model:?} (known: {})",
                NET_MODELS.join(", ")
            )));
        }
        if let Some(mac) = mac {
            if !is_mac(mac) {
                return Err(GuestError::Invalid(format!(
                    "{slot}: invalid MAC address {mac:?}"
                )));
            }
        }
        let p = if rest.is_empty() {
            None
        } else {
            Some(PropertyString::parse(
                slot,
                &format!("x,{rest}"),
                NET_OPTIONS,
            )?)
        };
        Ok(Net {
            slot: slot.to_string(),
            index,
            model: model.to_string(),
            mac: mac.map(|m| m.to_ascii_uppercase()),
            bridge: p.as_ref().and_then(|p| p.get("bridge")).map(str::to_string),
            mtu: p
                .as_ref()
                .and_then(|p| p.get("mtu"))
                .map(|m| {
                    m.parse::<u32>().map_err(|_| {
                        GuestError::Invalid(format!("{slot}: mtu={m:?} is not a number"))
                    })
                })
                .transpose()?,
        })
    }
}

/// A static IPv4 address of a guest NIC, as cloud-init's `ipconfigN` has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// `10.50.0.2/24`.
    pub ip: String,
    pub gw: Option<String>,
}

impl IpConfig {
    fn parse(key: &str, value: &str) -> Result<IpConfig> {
        let bad = |m: String| GuestError::Invalid(format!("{key}: {m}"));
        let mut ip = None;
        let mut gw = None;
        for part in value.split(',') {
            match part.split_once('=') {
                Some(("ip", a)) => {
                    let (addr, prefix) = a.split_once('/').ok_or_else(|| {
                        bad(format!("ip={a:?} needs a prefix: ip=ADDRESS/PREFIX"))
                    })?;
                    let ok = addr.parse::<std::net::Ipv4Addr>().is_ok()
                        && prefix.parse::<u8>().is_ok_and(|p| p <= 32);
                    if !ok {
                        return Err(bad(format!("ip={a:?} is not an IPv4 address/prefix")));
                    }
                    ip = Some(a.to_string());
                }
                Some(("gw", g)) => {
                    g.parse::<std::net::Ipv4Addr>()
                        .map_err(|_| bad(format!("gw={g:?} is not an IPv4 address")))?;
                    gw = Some(g.to_string());
                }
                _ => return Err(bad(format!("unknown option {part:?} (ip=, gw=)"))),
            }
        }
        let ip = ip.ok_or_else(|| bad("ip= is required (dhcp is not supported)".into()))?;
        Ok(IpConfig { ip, gw })
    }

    /// The test appliance's kernel command line arguments for it.
    pub fn kernel_args(&self) -> String {
        match &self.gw {
            Some(gw) => format!("brigade.ip={} brigade.gw={gw}", self.ip),
            None => format!("brigade.ip={}", self.ip),
        }
    }
}

/// A validated VM config. The text stays the source of truth; this is its typed view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmConfig {
    pub name: Option<String>,
    pub memory_mib: u64,
    pub cores: u32,
    pub sockets: u32,
    pub cpu: Option<String>,
    /// Direct kernel boot (the test appliance): kernel, initrd and command line.
    pub kernel: Option<String>,
    pub initrd: Option<String>,
    pub append: Option<String>,
    /// `ipconfig0: ip=10.50.0.2/24[,gw=10.50.0.1]` (cloud-init's key): the test appliance
    /// gets it on its kernel command line (`brigade.ip=`, `brigade.gw=`) for eth0.
    pub ipconfig0: Option<IpConfig>,
    pub disks: Vec<Disk>,
    pub nets: Vec<Net>,
    pub onboot: bool,
    /// `protection: 1`: destroy and disk removal are refused.
    pub protection: bool,
    pub lock: Option<GuestLock>,
}

/// Whether `s` is a valid guest name (a DNS name, as Proxmox requires).
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn check_path(key: &str, v: &str) -> Result<String> {
    if !v.starts_with('/') || v.contains("..") {
        return Err(GuestError::Invalid(format!(
            "{key}: {v:?} must be an absolute path"
        )));
    }
    Ok(v.to_string())
}

impl VmConfig {
    /// Parses and validates a config text.
    pub fn parse(text: &str) -> Result<VmConfig> {
        let kv = KeyValueConfig::parse(text).map_err(|e| GuestError::Invalid(e.to_string()))?;
        Self::from_kv(&kv)
    }

    /// Validates a parsed config: every key known, every value well formed.
    pub fn from_kv(kv: &KeyValueConfig) -> Result<VmConfig> {
        let mut c = VmConfig {
            name: None,
            memory_mib: DEFAULT_MEMORY_MIB,
            cores: 1,
            sockets: 1,
            cpu: None,
            kernel: None,
            initrd: None,
            append: None,
            ipconfig0: None,
            disks: Vec::new(),
            nets: Vec::new(),
            onboot: false,
            protection: false,
            lock: None,
        };
        for (key, value) in &kv.entries {
            let (key, v) = (key.as_str(), value.as_str());
            match key {
                "name" => {
                    if !is_valid_name(v) {
                        return Err(GuestError::Invalid(format!(
                            "name: {v:?} is not a valid DNS name"
                        )));
                    }
                    c.name = Some(v.to_string());
                }
                "memory" => c.memory_mib = parse_int(key, v, MEMORY_MIN_MIB, MEMORY_MAX_MIB)?,
                "cores" => c.cores = parse_int(key, v, 1, 128)? as u32,
                "sockets" => c.sockets = parse_int(key, v, 1, 4)? as u32,
                "cpu" => {
                    if !v
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
                    {
                        return Err(GuestError::Invalid(format!("cpu: invalid model {v:?}")));
                    }
                    c.cpu = Some(v.to_string());
                }
                "kernel" => c.kernel = Some(check_path(key, v)?),
                "initrd" => c.initrd = Some(check_path(key, v)?),
                "append" => c.append = Some(v.to_string()),
                "ipconfig0" => c.ipconfig0 = Some(IpConfig::parse(key, v)?),
                "onboot" => c.onboot = parse_bool(key, v)?,
                PROTECTION_KEY => c.protection = parse_protection(v)?,
                "lock" => c.lock = Some(GuestLock::parse(v)?),
                _ if PASSIVE_KEYS.contains(&key) => {}
                _ if key.starts_with("unused") => {
                    slot_index(key, "unused", 256).ok_or_else(|| unknown_key(key))?;
                    VolumeId::parse(v)?;
                }
                _ if key.starts_with("net") => {
                    let i = slot_index(key, "net", 32).ok_or_else(|| unknown_key(key))?;
                    c.nets.push(Net::parse(key, i, v)?);
                }
                _ => {
                    let disk = DiskBus::ALL
                        .iter()
                        .find_map(|(bus, prefix, count)| {
                            slot_index(key, prefix, *count).map(|i| (*bus, i))
                        })
                        .ok_or_else(|| unknown_key(key))?;
                    c.disks.push(Disk::parse(key, disk.0, disk.1, v)?);
                }
            }
        }
        if c.initrd.is_some() && c.kernel.is_none() {
            return Err(GuestError::Invalid("initrd needs kernel".into()));
        }
        if c.append.is_some() && c.kernel.is_none() {
            return Err(GuestError::Invalid("append needs kernel".into()));
        }
        Ok(c)
    }

    /// Total vCPUs.
    pub fn vcpus(&self) -> u32 {
        self.cores * self.sockets
    }

    /// Storages its disks live on (unique, sorted).
    pub fn storages(&self) -> Vec<String> {
        let mut s: Vec<String> = self
            .disks
            .iter()
            .map(|d| d.volume.storage.clone())
            .collect();
        s.sort();
        s.dedup();
        s
    }
}

/// The kernel command line of the test appliance: serial console, quiet, and no crypto
/// self-tests (under TCG they are 0.3 s of CPU, about a seventh of the boot to the
/// first tick; the appliance uses no kernel crypto).
pub const APPLIANCE_APPEND: &str = "console=ttyS0 quiet panic=-1 cryptomgr.notests";

/// Config keys of a VM booting the test appliance in `dir` with `memory_mib` and a disk.
pub fn appliance_params(
    dir: &str,
    memory_mib: u64,
    disk: Option<&str>,
) -> std::collections::BTreeMap<String, String> {
    let mut m = std::collections::BTreeMap::new();
    m.insert("memory".to_string(), memory_mib.to_string());
    if let Some(d) = disk {
        m.insert("scsi0".to_string(), d.to_string());
    }
    m.insert("kernel".to_string(), format!("{dir}/vmlinuz"));
    m.insert("initrd".to_string(), format!("{dir}/initramfs.img"));
    m.insert("append".to_string(), APPLIANCE_APPEND.to_string());
    m
}

fn unknown_key(key: &str) -> GuestError {
    GuestError::Invalid(format!("unknown config key {key:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "#my test vm\nname: web-1\nmemory: 256\ncores: 2\nsockets: 1\n\
        kernel: /a/vmlinuz\ninitrd: /a/initramfs.img\nappend: console=ttyS0 quiet\n\
        scsi0: shared:100/vm-100-disk-0.qcow2,size=1G\nvirtio1: local:100/vm-100-disk-1.raw,cache=none\n\
        net0: virtio=bc:24:11:00:00:01,bridge=vmbr0\nonboot: 1\nostype: l26\n";

    #[test]
    fn a_full_config_parses() {
        let c = VmConfig::parse(FULL).expect("parses");
        assert_eq!(c.name.as_deref(), Some("web-1"));
        assert_eq!(c.memory_mib, 256);
        assert_eq!(c.vcpus(), 2);
        assert_eq!(c.disks.len(), 2);
        assert_eq!(c.disks[0].size_bytes, Some(1 << 30));
        assert_eq!(c.disks[1].bus, DiskBus::Virtio);
        assert_eq!(c.nets[0].mac.as_deref(), Some("BC:24:11:00:00:01"));
        assert!(c.onboot);
        assert_eq!(c.storages(), vec!["local", "shared"]);
    }

    #[test]
    fn defaults_are_proxmox_defaults() {
        let c = VmConfig::parse("").expect("parses");
        assert_eq!((c.memory_mib, c.cores, c.sockets), (512, 1, 1));
    }

    #[test]
    fn bad_configs_are_refused_with_the_key_named() {
        for (text, needle) in [
            ("bogus: 1\n", "unknown config key \"bogus\""),
            ("memory: 1\n", "memory"),
            ("memory: lots\n", "memory"),
            ("cores: 0\n", "cores"),
            ("scsi31: local:x\n", "scsi31"),
            ("scsi0: nocolon\n", "scsi0"),
            ("scsi0: local:x,size=1Q\n", "size"),
            ("scsi0: local:x,bogus=1\n", "bogus"),
            ("net0: pcnet\n", "pcnet"),
            ("net0: virtio=zz\n", "MAC"),
            ("name: -bad\n", "name"),
            ("onboot: maybe\n", "onboot"),
            ("lock: weird\n", "lock"),
            ("kernel: relative\n", "kernel"),
            ("ipconfig0: ip=10.0.0.300/24\n", "ipconfig0"),
            ("ipconfig0: ip=10.0.0.3\n", "ipconfig0"),
            ("ipconfig0: gw=10.0.0.1\n", "ip= is required"),
            ("ipconfig0: ip=10.0.0.3/24,dns=1\n", "unknown option"),
            ("initrd: /x\n", "initrd needs kernel"),
            ("memory 256\n", "line 1"),
        ] {
            let e = VmConfig::parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
