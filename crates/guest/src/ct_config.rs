//! A container's config (`nodes/<node>/lxc/<vmid>.conf`), validated.

use brigade_core::key_value::KeyValueConfig;
use serde::{Deserialize, Serialize};

use crate::error::{GuestError, Result};
use crate::lock::GuestLock;
use crate::options::{parse_bool, parse_int, PropertyString};
use crate::protection::{parse_protection, PROTECTION_KEY};
use crate::size;
use crate::vm_config::{is_valid_name, DEFAULT_MEMORY_MIB, MEMORY_MAX_MIB, MEMORY_MIN_MIB};
use crate::volume::VolumeId;

/// Keys Proxmox writes for containers that brigade keeps but does not act on.
const PASSIVE_KEYS: &[&str] = &[
    "arch",
    "ostype",
    "unprivileged",
    "tags",
    "features",
    "cmode",
    "description",
    "swap",
    "console",
    "tty",
];
const NET_OPTIONS: &[&str] = &[
    "name", "bridge", "hwaddr", "ip", "gw", "ip6", "gw6", "firewall", "tag", "mtu", "rate", "type",
];

/// A validated container config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtConfig {
    pub hostname: Option<String>,
    pub memory_mib: u64,
    pub cores: Option<u32>,
    /// The root file system: a directory volume.
    pub rootfs: VolumeId,
    pub rootfs_size: Option<u64>,
    pub nets: Vec<String>,
    pub onboot: bool,
    /// `protection: 1`: destroy and removal of its root are refused.
    pub protection: bool,
    pub lock: Option<GuestLock>,
}

impl CtConfig {
    pub fn parse(text: &str) -> Result<CtConfig> {
        let kv = KeyValueConfig::parse(text).map_err(|e| GuestError::Invalid(e.to_string()))?;
        Self::from_kv(&kv)
    }

    pub fn from_kv(kv: &KeyValueConfig) -> Result<CtConfig> {
        let mut hostname = None;
        let mut memory_mib = DEFAULT_MEMORY_MIB;
        let mut cores = None;
        let mut rootfs = None;
        let mut nets = Vec::new();
        let mut onboot = false;
        let mut protection = false;
        let mut lock = None;
        for (key, value) in &kv.entries {
            let (key, v) = (key.as_str(), value.as_str());
            match key {
                "hostname" => {
                    if !is_valid_name(v) {
                        return Err(GuestError::Invalid(format!(
                            "hostname: {v:?} is not a valid DNS name"
                        )));
                    }
                    hostname = Some(v.to_string());
                }
                "memory" => memory_mib = parse_int(key, v, MEMORY_MIN_MIB, MEMORY_MAX_MIB)?,
                "cores" => cores = Some(parse_int(key, v, 1, 128)? as u32),
                "rootfs" => {
                    let p =
                        PropertyString::parse(key, v, &["size", "acl", "quota", "mountoptions"])?;
                    let vol = p.positional.as_deref().ok_or_else(|| {
                        GuestError::Invalid("rootfs: missing the volume (STORAGE:VOLUME)".into())
                    })?;
                    let size = p.get("size").map(size::parse_bytes).transpose()?;
                    rootfs = Some((VolumeId::parse(vol)?, size));
                }
                "onboot" => onboot = parse_bool(key, v)?,
                PROTECTION_KEY => protection = parse_protection(v)?,
                "lock" => lock = Some(GuestLock::parse(v)?),
                _ if PASSIVE_KEYS.contains(&key) => {}
                _ if key.starts_with("net")
                    && key[3..]
                        .parse::<u32>()
                        .is_ok_and(|i| i < 10 && key.len() <= 4) =>
                {
                    PropertyString::parse(key, &format!("x,{v}"), NET_OPTIONS)?;
                    nets.push(v.to_string());
                }
                _ => return Err(GuestError::Invalid(format!("unknown config key {key:?}"))),
            }
        }
        let (rootfs, rootfs_size) = rootfs.ok_or_else(|| {
            GuestError::Invalid("rootfs: missing (e.g. rootfs: local:101/subvol-101-disk-0)".into())
        })?;
        Ok(CtConfig {
            hostname,
            memory_mib,
            cores,
            rootfs,
            rootfs_size,
            nets,
            onboot,
            protection,
            lock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_configs() {
        let c = CtConfig::parse(
            "hostname: ct1\nmemory: 64\nrootfs: local:101/subvol-101-disk-0,size=1G\n\
             net0: name=eth0,bridge=vmbr0\narch: amd64\n",
        )
        .expect("parses");
        assert_eq!(c.rootfs.to_string(), "local:101/subvol-101-disk-0");
        assert_eq!(c.memory_mib, 64);
        for (text, needle) in [
            ("memory: 64\n", "rootfs: missing"),
            ("rootfs: local:x\nbogus: 1\n", "bogus"),
            ("rootfs: local:x\nnet0: name=eth0,what=1\n", "what"),
            ("rootfs: ../x\n", "volume"),
            ("rootfs: local:x\nhostname: a_b\n", "hostname"),
        ] {
            let e = CtConfig::parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
