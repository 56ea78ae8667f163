//! Reading and changing guest configs, destroying guests, reading their console output.

use std::collections::BTreeMap;

use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout::GuestKind;
use brigade_guest::{protection, storage, CtConfig, GuestLock, VmConfig, VolumeId};

use super::common::check_unlocked;
use super::locate::{noun, Located};
use super::power::lock_of;
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::guests::GuestConfigView;

/// Console output returned when no tail is asked for.
const DEFAULT_CONSOLE_TAIL: u64 = 64 * 1024;

/// The volumes a config refers to (disks, unused disks, container root).
pub(crate) fn volumes(kind: GuestKind, text: &str) -> Result<Vec<VolumeId>, NodeError> {
    Ok(match kind {
        GuestKind::Qemu => {
            let cfg = VmConfig::parse(text)?;
            let kv = KeyValueConfig::parse(text).map_err(NodeError::from)?;
            let mut v: Vec<VolumeId> = cfg.disks.iter().map(|d| d.volume.clone()).collect();
            for (k, val) in &kv.entries {
                if k.starts_with("unused") {
                    v.push(VolumeId::parse(val)?);
                }
            }
            v
        }
        GuestKind::Lxc => vec![CtConfig::parse(text)?.rootfs],
    })
}

/// Refuses destroying a guest whose config has `protection: 1`.
pub(crate) fn check_not_protected(l: &Located) -> Result<(), NodeError> {
    let kv = KeyValueConfig::parse(&l.text).map_err(NodeError::from)?;
    if protection::is_protected(&kv) {
        return Err(protection::refusal(l.kind, l.vmid.get(), "destroy it").into());
    }
    Ok(())
}

impl Node {
    pub(crate) fn guest_config(&self, l: &Located) -> Result<GuestConfigView, NodeError> {
        let kv = KeyValueConfig::parse(&l.text).map_err(NodeError::from)?;
        Ok(GuestConfigView {
            vmid: l.vmid.get(),
            node: l.node.clone(),
            digest: l.version,
            text: l.text.clone(),
            config: kv.entries,
        })
    }

    pub(crate) async fn set_guest_config(
        &self,
        l: &Located,
        set: BTreeMap<String, String>,
        delete: Vec<String>,
        digest: Option<u64>,
    ) -> Result<GuestConfigView, NodeError> {
        if set.is_empty() && delete.is_empty() {
            return Err(NodeError::Invalid(
                "nothing to change: give options to set or --delete".into(),
            ));
        }
        if let Some(d) = digest {
            if d != l.version {
                return Err(NodeError::Conflict(format!(
                    "the config of {} {} changed meanwhile (digest {d}, now {}); read it again",
                    noun(l.kind),
                    l.vmid,
                    l.version
                )));
            }
        }
        let only_lock = set.keys().chain(delete.iter()).all(|k| k == "lock");
        if !only_lock {
            check_unlocked(l.kind, l.vmid, lock_of(l))?;
        }
        let mut kv = KeyValueConfig::parse(&l.text).map_err(NodeError::from)?;
        protection::check_config_change(
            l.kind,
            l.vmid.get(),
            &kv,
            set.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            delete.iter().map(String::as_str),
        )?;
        for k in &delete {
            if !kv.entries.iter().any(|(key, _)| key == k) {
                return Err(NodeError::Invalid(format!(
                    "cannot delete {k:?}: it is not set"
                )));
            }
            kv.entries.retain(|(key, _)| key != k);
        }
        for (k, v) in &set {
            if k == "lock" {
                GuestLock::parse(v)?;
            }
            kv.set(k, v).map_err(NodeError::from)?;
        }
        // The same validation as a write of the file through `fs write` or the mount.
        crate::validate::guest_config(l.kind, &l.node, &kv, &self.host_path_policy())?;
        let nics_changed = set.keys().any(|k| k.starts_with("net"));
        if nics_changed {
            self.prepare_guest_nics(l.kind, &l.node, l.vmid.get(), &mut kv)?;
        }
        let text = kv.to_text();
        let version = self
            .write_guest_config(&l.path, text.clone(), Some(l.version))
            .await?;
        Ok(GuestConfigView {
            vmid: l.vmid.get(),
            node: l.node.clone(),
            digest: version,
            text,
            config: kv.entries,
        })
    }

    /// Removes a stopped guest: its volumes on this node's storages, then its config.
    pub(crate) async fn destroy_guest(&self, l: &Located) -> Result<(), NodeError> {
        check_not_protected(l)?;
        check_unlocked(l.kind, l.vmid, lock_of(l))?;
        if self.guest_pid(l.kind, l.vmid.get()).is_some() {
            return Err(NodeError::Conflict(format!(
                "{} {} is running; stop it first",
                noun(l.kind),
                l.vmid
            )));
        }
        let rt = self.require_cluster()?;
        if !rt.cfs.is_quorate() {
            return Err(brigade_cfs::CfsError::NotQuorate.into());
        }
        let (scfg, _) = self.storage_cfg()?;
        let mut paths = Vec::new();
        for vol in volumes(l.kind, &l.text).unwrap_or_default() {
            // Only volumes that belong to this guest.
            if vol.owner() == Some(l.vmid.get()) {
                if let Ok((_, p)) = self.resolve_volume(&scfg, &vol) {
                    paths.push(p);
                }
            }
        }
        // Config first: a leftover volume is harmless, a config without its disk is not.
        rt.cfs
            .propose(brigade_cfs::Op::Delete {
                path: l.path.clone(),
                expect_version: Some(l.version),
                recursive: false,
            })
            .await?;
        if let Err(e) = crate::access_admin::forget_vm(self, l.vmid).await {
            tracing::warn!(
                "destroy {}: its ACL entries and pool membership stay: {e}",
                l.vmid
            );
        }
        for p in paths {
            if let Err(e) = storage::free_volume(&p) {
                tracing::warn!("destroy {}: {e}", l.vmid);
            }
        }
        match l.kind {
            GuestKind::Qemu => self.guests.run.clean_qemu(l.vmid.get()),
            GuestKind::Lxc => {
                let _ = std::fs::remove_file(self.guests.run.ct_pid(l.vmid.get()));
            }
        }
        tracing::info!(vmid = l.vmid.get(), kind = %l.kind, "guest destroyed");
        Ok(())
    }

    /// The last bytes the guest wrote on its console since it started here.
    pub(crate) fn console_log(&self, l: &Located, tail: Option<u64>) -> Result<String, NodeError> {
        let path = match l.kind {
            GuestKind::Qemu => self.guests.run.serial_log(l.vmid.get()),
            GuestKind::Lxc => self.guests.run.ct_log(l.vmid.get()),
        };
        let data = std::fs::read(&path).unwrap_or_default();
        let tail = tail.unwrap_or(DEFAULT_CONSOLE_TAIL) as usize;
        let start = data.len().saturating_sub(tail);
        Ok(String::from_utf8_lossy(&data[start..]).into_owned())
    }
}
