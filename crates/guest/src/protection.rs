//! The `protection: 1` flag of a guest config, as Proxmox's: while set, the guest
//! cannot be destroyed and its disks cannot be removed or detached.

use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout::GuestKind;

use crate::error::{GuestError, Result};

/// The config key of the flag.
pub const PROTECTION_KEY: &str = "protection";

/// Parses the flag's value: only `0` and `1`, as Proxmox writes it.
pub fn parse_protection(v: &str) -> Result<bool> {
    match v {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(GuestError::Invalid(format!(
            "{PROTECTION_KEY}: {v:?} is not 0 or 1"
        ))),
    }
}

/// Whether a config has `protection: 1` (a malformed value does not protect: the
/// config validation refuses it before it is ever written).
pub fn is_protected(kv: &KeyValueConfig) -> bool {
    kv.get(PROTECTION_KEY) == Some("1")
}

/// Whether `key` of a guest config holds a disk (a volume the guest uses or kept
/// as unused), whose removal the flag refuses.
pub fn is_disk_key(kind: GuestKind, key: &str) -> bool {
    let slot = |prefix: &str| {
        key.strip_prefix(prefix)
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
    };
    if slot("unused") {
        return true;
    }
    match kind {
        GuestKind::Qemu => ["scsi", "virtio", "ide", "sata", "efidisk", "tpmstate"]
            .iter()
            .any(|p| slot(p)),
        GuestKind::Lxc => key == "rootfs" || slot("mp"),
    }
}

/// The command that clears the flag.
pub fn clear_command(kind: GuestKind, vmid: u32) -> String {
    let cmd = match kind {
        GuestKind::Qemu => "vm",
        GuestKind::Lxc => "ct",
    };
    format!("brigade {cmd} set {vmid} --{PROTECTION_KEY} 0")
}

/// The refusal of `what` (e.g. "destroy it") on a protected guest, naming the flag
/// and how to clear it.
pub fn refusal(kind: GuestKind, vmid: u32, what: &str) -> GuestError {
    let noun = match kind {
        GuestKind::Qemu => "VM",
        GuestKind::Lxc => "CT",
    };
    GuestError::Conflict(format!(
        "{noun} {vmid} is protected ({PROTECTION_KEY}: 1): cannot {what}; \
         clear the flag first with '{}'",
        clear_command(kind, vmid)
    ))
}

/// Refuses changing the config `old` of a protected guest by deleting the keys
/// `delete` and setting `set`, when that removes or detaches a disk (a disk key
/// deleted, or given another volume). Unprotected guests pass.
pub fn check_config_change<'a>(
    kind: GuestKind,
    vmid: u32,
    old: &KeyValueConfig,
    set: impl IntoIterator<Item = (&'a str, &'a str)>,
    delete: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    if !is_protected(old) {
        return Ok(());
    }
    for k in delete {
        if is_disk_key(kind, k) && old.get(k).is_some() {
            return Err(refusal(kind, vmid, &format!("remove its disk {k}")));
        }
    }
    for (k, v) in set {
        if !is_disk_key(kind, k) {
            continue;
        }
        let volume = |s: &str| s.split(',').next().unwrap_or_default().to_string();
        if let Some(was) = old.get(k) {
            if volume(was) != volume(v) {
                return Err(refusal(kind, vmid, &format!("detach its disk {k}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> KeyValueConfig {
        KeyValueConfig::parse(text).expect("parses")
    }

    #[test]
    fn only_zero_and_one() {
        assert!(parse_protection("1").expect("1"));
        assert!(!parse_protection("0").expect("0"));
        for bad in ["yes", "true", "2", "", " 1"] {
            let e = parse_protection(bad).expect_err(bad).to_string();
            assert!(e.contains("protection"), "{e}");
        }
    }

    #[test]
    fn disk_keys() {
        for k in ["scsi0", "virtio3", "ide2", "sata1", "unused0", "efidisk0"] {
            assert!(is_disk_key(GuestKind::Qemu, k), "{k}");
        }
        for k in ["net0", "memory", "scsihw", "unused", "protection"] {
            assert!(!is_disk_key(GuestKind::Qemu, k), "{k}");
        }
        assert!(is_disk_key(GuestKind::Lxc, "rootfs"));
        assert!(is_disk_key(GuestKind::Lxc, "mp0"));
        assert!(!is_disk_key(GuestKind::Lxc, "memory"));
    }

    #[test]
    fn protected_guest_keeps_its_disks() {
        let old = kv("protection: 1\nscsi0: local:100/vm-100-disk-0.qcow2,size=1G\nunused0: local:100/vm-100-disk-1.qcow2\nmemory: 64\n");
        let q = GuestKind::Qemu;
        let e = check_config_change(q, 100, &old, [], ["scsi0"]).expect_err("refused");
        let m = e.to_string();
        assert!(m.contains("protection: 1") && m.contains("brigade vm set 100 --protection 0"));
        assert!(check_config_change(q, 100, &old, [], ["unused0"]).is_err());
        assert!(check_config_change(
            q,
            100,
            &old,
            [("scsi0", "local:100/vm-100-disk-9.qcow2")],
            []
        )
        .is_err());
        // Options of the same volume, other keys, a new disk: allowed.
        assert!(check_config_change(
            q,
            100,
            &old,
            [("scsi0", "local:100/vm-100-disk-0.qcow2,size=2G")],
            []
        )
        .is_ok());
        assert!(check_config_change(q, 100, &old, [("memory", "128")], ["memory"]).is_ok());
        assert!(check_config_change(q, 100, &old, [("scsi1", "local:100/x.qcow2")], []).is_ok());
        // Unprotected: anything goes.
        let open = kv("scsi0: local:100/vm-100-disk-0.qcow2\n");
        assert!(check_config_change(q, 100, &open, [], ["scsi0"]).is_ok());
        let ct = refusal(GuestKind::Lxc, 101, "destroy it").to_string();
        assert!(ct.contains("CT 101") && ct.contains("brigade ct set 101 --protection 0"));
    }
}
