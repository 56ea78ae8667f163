//! Creating guests: validate everything first, allocate volumes, write the config
//! (cfs refuses a VMID used anywhere), and undo the allocation if the write fails.

use std::collections::BTreeMap;
use std::path::PathBuf;

use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use brigade_guest::{size, storage, StorageConfig, VolumeId};

use super::locate::{self, noun};
use crate::error::NodeError;
use crate::node::Node;

/// Default format of new VM disks.
const DEFAULT_DISK_FORMAT: &str = "qcow2";

/// A volume to allocate: the config key, storage, size, format.
struct Allocation {
    key: String,
    storage: String,
    size_bytes: u64,
    format: String,
    rest: Vec<String>,
}

/// Whether `value` asks for a new volume (`STORAGE:SIZE[,opts]`) and how.
fn allocation(key: &str, value: &str, kind: GuestKind) -> Result<Option<Allocation>, NodeError> {
    let mut parts = value.split(',');
    let first = parts.next().unwrap_or_default();
    let Some((storage, amount)) = first.split_once(':') else {
        return Ok(None);
    };
    // `virtio=BC:24:...` is a NIC with its MAC, not STORAGE:SIZE (no storage id has '=').
    if storage.contains('=')
        || amount.is_empty()
        || !amount.chars().next().is_some_and(|c| c.is_ascii_digit())
        || amount.contains('/')
    {
        return Ok(None);
    }
    let size_bytes = size::parse_bytes(amount)?;
    let mut format = match kind {
        GuestKind::Qemu => DEFAULT_DISK_FORMAT.to_string(),
        GuestKind::Lxc => "subvol".to_string(),
    };
    let mut rest = Vec::new();
    for p in parts {
        match p.strip_prefix("format=") {
            Some(f) => format = f.to_string(),
            None => rest.push(p.to_string()),
        }
    }
    Ok(Some(Allocation {
        key: key.to_string(),
        storage: storage.to_string(),
        size_bytes,
        format,
        rest,
    }))
}

fn disk_value(volume: &str, a: &Allocation) -> String {
    let mut v = format!("{volume},size={}", size::format_bytes(a.size_bytes));
    for r in &a.rest {
        v.push(',');
        v.push_str(r);
    }
    v
}

impl Node {
    pub(crate) async fn create_guest(
        &self,
        kind: GuestKind,
        vmid: VmId,
        params: BTreeMap<String, String>,
        ostemplate: Option<String>,
    ) -> Result<serde_json::Value, NodeError> {
        let rt = self.require_cluster()?.clone();
        if !rt.cfs.is_quorate() {
            return Err(brigade_cfs::CfsError::NotQuorate.into());
        }
        if let Some(l) = locate::find(&rt.cfs, vmid) {
            return Err(NodeError::Conflict(format!(
                "{vmid} already exists: {} {vmid} on node {}",
                noun(l.kind),
                l.node
            )));
        }
        let (scfg, _) = self.storage_cfg()?;
        // 1. Validate with placeholder volumes: nothing is allocated yet.
        let mut kv = KeyValueConfig::default();
        let mut allocs = Vec::new();
        for (k, v) in &params {
            if k == "lock" {
                return Err(NodeError::Invalid("lock cannot be set on create".into()));
            }
            let value = match allocation(k, v, kind)? {
                Some(a) => {
                    let s = scfg.get(&a.storage)?;
                    let content = match kind {
                        GuestKind::Qemu => "images",
                        GuestKind::Lxc => "rootdir",
                    };
                    if !s.content.iter().any(|c| c == content) {
                        return Err(NodeError::Invalid(format!(
                            "{k}: storage {:?} does not hold {content}",
                            s.id
                        )));
                    }
                    self.resolve_volume(&scfg, &VolumeId::parse(&format!("{}:x", a.storage))?)?;
                    let placeholder = format!("{}:{vmid}/placeholder", a.storage);
                    let v = disk_value(&placeholder, &a);
                    allocs.push(a);
                    v
                }
                None => v.clone(),
            };
            kv.set(k, &value).map_err(NodeError::from)?;
        }
        // The same validation as a write of the file through `fs write` or the mount.
        let policy = self.host_path_policy();
        let template = match kind {
            GuestKind::Qemu => {
                crate::validate::guest_config(kind, self.config.name.as_str(), &kv, &policy)?;
                self.prepare_guest_nics(kind, self.config.name.as_str(), vmid.get(), &mut kv)?;
                None
            }
            GuestKind::Lxc => {
                if !params.contains_key("rootfs") {
                    return Err(NodeError::Invalid(
                        "rootfs: missing (e.g. --rootfs local:1 to make a 1 GiB root from --ostemplate)".into(),
                    ));
                }
                crate::validate::guest_config(kind, self.config.name.as_str(), &kv, &policy)?;
                self.prepare_guest_nics(kind, self.config.name.as_str(), vmid.get(), &mut kv)?;
                let t = ostemplate.map(PathBuf::from).ok_or_else(|| {
                    NodeError::Invalid(
                        "containers need --ostemplate DIR (a root file system to copy; see scripts/build-appliance)".into(),
                    )
                })?;
                // A host directory copied into the container: the same places as a VM's kernel.
                policy
                    .for_node(self.config.name.as_str())
                    .check("ostemplate", &t.to_string_lossy())?;
                if !t.join("sbin/init").exists() {
                    return Err(NodeError::Invalid(format!(
                        "ostemplate {} has no /sbin/init",
                        t.display()
                    )));
                }
                Some(t)
            }
        };
        for a in &allocs {
            if kind == GuestKind::Qemu && !["qcow2", "raw"].contains(&a.format.as_str()) {
                return Err(NodeError::Invalid(format!(
                    "{}: format {:?} is not supported (qcow2 or raw)",
                    a.key, a.format
                )));
            }
        }
        // 2. Allocate, remembering what to undo.
        let mut made: Vec<PathBuf> = Vec::new();
        let result = self
            .allocate_and_write(
                kind,
                vmid,
                &scfg,
                &mut kv,
                &allocs,
                template.as_deref(),
                &mut made,
            )
            .await;
        if result.is_err() {
            for p in made {
                let _ = storage::free_volume(&p);
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn allocate_and_write(
        &self,
        kind: GuestKind,
        vmid: VmId,
        scfg: &StorageConfig,
        kv: &mut KeyValueConfig,
        allocs: &[Allocation],
        template: Option<&std::path::Path>,
        made: &mut Vec<PathBuf>,
    ) -> Result<serde_json::Value, NodeError> {
        for a in allocs {
            let s = scfg.get(&a.storage)?;
            let root = self.storage_root(s);
            let name = match (kind, template) {
                (GuestKind::Lxc, Some(t)) => storage::alloc_subvol(&root, vmid.get(), t).await?,
                _ => storage::alloc_disk(&root, vmid.get(), a.size_bytes, &a.format).await?,
            };
            let vol = VolumeId::parse(&format!("{}:{name}", a.storage))?;
            made.push(brigade_guest::Storage::volume_path(&root, &vol));
            kv.set(&a.key, &disk_value(&vol.to_string(), a))
                .map_err(NodeError::from)?;
        }
        let text = kv.to_text();
        let rt = self.require_cluster()?;
        let path = kind.config_path(&self.config.name, vmid);
        rt.cfs
            .propose(brigade_cfs::Op::Write {
                path,
                data: text.clone().into_bytes(),
                expect_version: Some(0),
                create_exclusive: true,
            })
            .await
            .map_err(|e| match e {
                brigade_cfs::CfsError::GuestIdTaken { vmid, path } => {
                    NodeError::Conflict(format!("{vmid} already exists ({path})"))
                }
                other => other.into(),
            })?;
        tracing::info!(vmid = vmid.get(), %kind, "guest created");
        Ok(
            serde_json::json!({ "vmid": vmid.get(), "node": self.config.name.as_str(), "config": text }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_requests_are_recognized() {
        let a = allocation("scsi0", "shared:1,cache=none", GuestKind::Qemu)
            .expect("ok")
            .expect("an allocation");
        assert_eq!(
            (a.storage.as_str(), a.size_bytes, a.format.as_str()),
            ("shared", 1 << 30, "qcow2")
        );
        assert_eq!(
            disk_value("shared:100/vm-100-disk-0.qcow2", &a),
            "shared:100/vm-100-disk-0.qcow2,size=1G,cache=none"
        );
        assert!(
            allocation("scsi0", "local:100/vm-100-disk-0.qcow2", GuestKind::Qemu)
                .expect("ok")
                .is_none()
        );
        assert!(allocation("scsi0", "local:1Q", GuestKind::Qemu).is_err());
        let raw = allocation("virtio0", "local:512M,format=raw", GuestKind::Qemu)
            .expect("ok")
            .expect("an allocation");
        assert_eq!(raw.format, "raw");
        let nic = allocation(
            "net0",
            "virtio=BC:24:00:04:9D:00,bridge=red",
            GuestKind::Qemu,
        );
        assert!(
            nic.expect("a NIC is no error").is_none(),
            "a MAC is no size"
        );
    }
}
