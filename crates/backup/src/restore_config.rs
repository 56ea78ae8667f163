//! The guest config a restore writes (pure): disks renamed for the new VMID on the chosen storage, the lock dropped, like `qmrestore`.

use brigade_guest::{VmConfig, VolumeId};

use crate::error::{BackupError, Result};

/// A disk the restore creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredDisk {
    pub slot: String,
    pub volume: VolumeId,
    /// `raw` or `qcow2` (kept from the backed-up volume's name).
    pub format: String,
}

/// Rewrites a backed-up config for `vmid` with its disks on `storage`: disk N (in config order)
/// becomes `<storage>:<vmid>/vm-<vmid>-disk-N.<format>`; CD-ROMs and other lines stay; `lock`
/// is dropped. The config must parse.
pub fn restore_config(
    config: &str,
    vmid: u32,
    storage: &str,
) -> Result<(String, Vec<RestoredDisk>)> {
    let parsed = VmConfig::parse(config)
        .map_err(|e| BackupError::Invalid(format!("the backed-up config does not parse: {e}")))?;
    if !brigade_guest::volume::is_valid_storage_id(storage) {
        return Err(BackupError::Invalid(format!(
            "invalid storage id {storage:?}"
        )));
    }
    let mut disks = Vec::new();
    let mut out = String::new();
    for line in config.lines() {
        let key = line.split_once(':').map(|(k, _)| k.trim()).unwrap_or("");
        if key == "lock" {
            continue;
        }
        if let Some(d) = parsed.disks.iter().find(|d| d.slot == key && !d.cdrom) {
            let format = d.volume.format().to_string();
            let name = format!("{vmid}/vm-{vmid}-disk-{}.{format}", disks.len());
            let volume = VolumeId::parse(&format!("{storage}:{name}"))
                .map_err(|e| BackupError::Invalid(e.to_string()))?;
            let value = line.split_once(':').map(|(_, v)| v.trim()).unwrap_or("");
            let options = value.split_once(',').map(|(_, o)| o);
            out.push_str(&format!("{key}: {volume}"));
            if let Some(o) = options {
                out.push(',');
                out.push_str(o);
            }
            out.push('\n');
            disks.push(RestoredDisk {
                slot: d.slot.clone(),
                volume,
                format,
            });
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok((out, disks))
}

/// Rewrites a backed-up container config for `vmid` with its root on `storage`:
/// `rootfs: <storage>:<vmid>/subvol-<vmid>-disk-0` (its options kept); `lock` dropped.
pub fn restore_ct_config(config: &str, vmid: u32, storage: &str) -> Result<(String, VolumeId)> {
    brigade_guest::CtConfig::parse(config)
        .map_err(|e| BackupError::Invalid(format!("the backed-up config does not parse: {e}")))?;
    if !brigade_guest::volume::is_valid_storage_id(storage) {
        return Err(BackupError::Invalid(format!(
            "invalid storage id {storage:?}"
        )));
    }
    let volume = VolumeId::parse(&format!("{storage}:{vmid}/subvol-{vmid}-disk-0"))
        .map_err(|e| BackupError::Invalid(e.to_string()))?;
    let mut out = String::new();
    for line in config.lines() {
        let key = line.split_once(':').map(|(k, _)| k.trim()).unwrap_or("");
        match key {
            "lock" => continue,
            "rootfs" => {
                let value = line.split_once(':').map(|(_, v)| v.trim()).unwrap_or("");
                out.push_str(&format!("rootfs: {volume}"));
                if let Some((_, o)) = value.split_once(',') {
                    out.push(',');
                    out.push_str(o);
                }
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    Ok((out, volume))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_containers_root_moves_to_the_new_id_and_storage() {
        let cfg = "hostname: web\nrootfs: local:200/subvol-200-disk-0,size=1G\nlock: backup\n";
        let (text, vol) = restore_ct_config(cfg, 301, "other").expect("rewrites");
        assert_eq!(
            text,
            "hostname: web\nrootfs: other:301/subvol-301-disk-0,size=1G\n"
        );
        assert_eq!(vol.to_string(), "other:301/subvol-301-disk-0");
        assert!(brigade_guest::CtConfig::parse(&text).is_ok());
        assert!(restore_ct_config("bogus: 1\n", 301, "x").is_err());
        assert!(restore_ct_config(cfg, 301, "1bad").is_err());
    }

    #[test]
    fn disks_move_to_the_new_vmid_and_storage() {
        let cfg = "memory: 128\nscsi0: local:100/vm-100-disk-0.qcow2,size=1G,cache=none\n\
                   virtio1: shared:100/vm-100-disk-3.raw\nide2: local:iso/x.iso,media=cdrom\nlock: backup\n";
        let (text, disks) = restore_config(cfg, 200, "backup-target").expect("rewrites");
        assert_eq!(
            text,
            "memory: 128\nscsi0: backup-target:200/vm-200-disk-0.qcow2,size=1G,cache=none\n\
             virtio1: backup-target:200/vm-200-disk-1.raw\nide2: local:iso/x.iso,media=cdrom\n"
        );
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[1].format, "raw");
        assert!(VmConfig::parse(&text).is_ok());
        assert!(restore_config("bogus: 1\n", 200, "x").is_err());
        assert!(restore_config(cfg, 200, "1bad").is_err());
    }
}
