//! What each guest request needs, checked where the guest lives (after a forward too), and
//! the privilege each config key needs (`PUT .../config`, Proxmox's per-key rules).

use brigade_access::{AclPath, Authid, Permissions, Privilege};
use brigade_api::guests::GuestRequest;
use brigade_core::layout::GuestKind;
use brigade_core::VmId;

use crate::error::NodeError;
use crate::guests::noun;

use Privilege as P;

/// Every `VM.Config.*` privilege (the route check of `PUT config` needs one of them).
pub const VM_CONFIG_PRIVILEGES: &[Privilege] = &[
    P::VmConfigCdrom,
    P::VmConfigCpu,
    P::VmConfigCloudinit,
    P::VmConfigDisk,
    P::VmConfigHwType,
    P::VmConfigMemory,
    P::VmConfigNetwork,
    P::VmConfigOptions,
];

/// The privilege changing (or deleting) one config key needs.
pub fn config_key_privilege(key: &str) -> Privilege {
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    match base {
        "memory" | "balloon" | "shares" | "swap" => P::VmConfigMemory,
        "cores" | "sockets" | "cpu" | "cpulimit" | "cpuunits" | "vcpus" | "numa" | "affinity" => {
            P::VmConfigCpu
        }
        "ide" | "sata" | "scsi" | "virtio" | "efidisk" | "tpmstate" | "unused" | "rootfs"
        | "mp" => P::VmConfigDisk,
        "net" => P::VmConfigNetwork,
        "cdrom" => P::VmConfigCdrom,
        "cicustom" | "cipassword" | "citype" | "ciuser" | "ciupgrade" | "ipconfig"
        | "nameserver" | "searchdomain" | "sshkeys" => P::VmConfigCloudinit,
        "machine" | "bios" | "vga" | "scsihw" | "usb" | "hostpci" | "serial" | "parallel"
        | "audio" | "tablet" | "watchdog" | "rng" | "arch" => P::VmConfigHwType,
        _ => P::VmConfigOptions,
    }
}

/// The storages the disk keys among `keys` put volumes on (`scsi0: local:8`,
/// `rootfs: local:4`): the part before `:` of the volume, when it is a storage id
/// rather than a host path.
pub fn storages_used<'a>(keys: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<String> {
    let mut ids: Vec<String> = keys
        .into_iter()
        .filter(|(k, _)| config_key_privilege(k) == P::VmConfigDisk && !k.starts_with("unused"))
        .filter_map(|(_, v)| {
            let volume = v.split(',').next()?.trim();
            let (storage, _) = volume.split_once(':')?;
            let id_like = !storage.is_empty()
                && storage
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            id_like.then(|| storage.to_string())
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// `Datastore.AllocateSpace` on every storage the disk keys of `params` use.
fn need_space<'a>(
    perms: &Permissions<'_>,
    caller: &Authid,
    params: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), NodeError> {
    for id in storages_used(params) {
        let path = AclPath::storage(&id)
            .map_err(|_| NodeError::Invalid(format!("invalid storage id {id:?}")))?;
        perms
            .check(caller, &path, P::DatastoreAllocateSpace)
            .map_err(|d| NodeError::Forbidden(format!("{caller}: {d}")))?;
    }
    Ok(())
}

/// The answer for a guest the caller may not see: exactly that of a guest that does not exist.
pub fn no_such_guest(kind: Option<GuestKind>, vmid: VmId) -> NodeError {
    match kind {
        Some(k) => NodeError::NotFound(format!("{} {vmid} does not exist", noun(k))),
        None => NodeError::NotFound(format!("guest {vmid} does not exist")),
    }
}

/// A denial as the API says it: 404 for a guest the caller may not see, 403 otherwise.
pub fn refuse(
    perms: &Permissions<'_>,
    caller: &Authid,
    kind: Option<GuestKind>,
    vmid: Option<VmId>,
    why: impl std::fmt::Display,
) -> NodeError {
    match vmid {
        Some(v) if !perms.may_see_vm(caller, v) => no_such_guest(kind, v),
        _ => NodeError::Forbidden(format!("{caller}: {why}")),
    }
}

fn need(
    perms: &Permissions<'_>,
    caller: &Authid,
    kind: GuestKind,
    vmid: VmId,
    privs: &[Privilege],
) -> Result<(), NodeError> {
    perms
        .check_all(caller, &AclPath::vm(vmid), privs)
        .map_err(|d| refuse(perms, caller, Some(kind), Some(vmid), d))
}

/// Checks what `req` needs for `caller`, before any of it runs.
pub fn check_guest_request(
    perms: &Permissions<'_>,
    caller: &Authid,
    node: &str,
    req: &GuestRequest,
) -> Result<(), NodeError> {
    use GuestRequest as R;
    match req {
        R::Create {
            kind, vmid, params, ..
        } => {
            need(perms, caller, *kind, *vmid, &[P::VmAllocate])?;
            need_space(perms, caller, params)
        }
        R::Destroy { kind, vmid } => need(perms, caller, *kind, *vmid, &[P::VmAllocate]),
        R::Start { kind, vmid }
        | R::Stop { kind, vmid }
        | R::Shutdown { kind, vmid, .. }
        | R::Reboot { kind, vmid } => need(perms, caller, *kind, *vmid, &[P::VmPowerMgmt]),
        R::Status { kind, vmid } | R::Config { kind, vmid } | R::GuestRrd { kind, vmid, .. } => {
            need(perms, caller, *kind, *vmid, &[P::VmAudit])
        }
        R::SetConfig {
            kind,
            vmid,
            set,
            delete,
            ..
        } => {
            let mut privs: Vec<Privilege> = set
                .keys()
                .chain(delete.iter())
                .map(|k| config_key_privilege(k))
                .collect();
            privs.sort_by_key(|p| p.as_str());
            privs.dedup();
            if privs.is_empty() {
                privs.push(P::VmConfigOptions);
            }
            need(perms, caller, *kind, *vmid, &privs)?;
            need_space(perms, caller, set)
        }
        R::Migrate { kind, vmid, .. } | R::MigrateTargets { kind, vmid } => {
            need(perms, caller, *kind, *vmid, &[P::VmMigrate])
        }
        R::ConsoleLog { kind, vmid, .. } => need(perms, caller, *kind, *vmid, &[P::VmConsole]),
        R::Task { .. } => Ok(()),
        R::Backup { backup } => crate::backup::check(perms, caller, backup),
        R::StorageStatus | R::NodeRrd { .. } => {
            let path: AclPath = format!("/nodes/{node}")
                .parse()
                .map_err(|_| NodeError::Invalid(format!("invalid node name {node:?}")))?;
            perms
                .check(caller, &path, P::SysAudit)
                .map_err(|d| NodeError::Forbidden(format!("{caller}: {d}")))
        }
        // Migration's and HA's internal steps: only the nodes themselves (as root@pam).
        R::LocalStates
        | R::Precheck { .. }
        | R::PrepareIncoming { .. }
        | R::IncomingStatus { .. }
        | R::AbortIncoming { .. }
        | R::ResumeIncoming { .. } => {
            if caller.user.is_root() && !caller.is_token() {
                Ok(())
            } else {
                Err(NodeError::Forbidden(format!(
                    "{caller}: only the cluster's nodes send this request"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brigade_access::UserCfg;
    use std::collections::BTreeMap;

    fn cfg() -> UserCfg {
        brigade_access::parse_user_cfg(
            "user:auditor@pve:1:0::::::\nuser:vmuser@pve:1:0::::::\n\
             acl:1:/:auditor@pve:PVEAuditor:\nacl:1:/vms/200:vmuser@pve:PVEVMUser:\n",
        )
        .expect("user.cfg")
    }

    fn vmid(v: u32) -> VmId {
        VmId::try_from(v).expect("vmid")
    }

    #[test]
    fn disks_name_the_storages_they_use() {
        let params: BTreeMap<String, String> = [
            ("scsi0", "local:8,cache=none"),
            ("virtio1", "shared:vm-100-disk-1"),
            ("rootfs", "local:4"),
            ("ide2", "/var/lib/images/x.qcow2"),
            ("unused0", "gone:vm-100-disk-9"),
            ("memory", "512"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(storages_used(&params), vec!["local", "shared"]);
    }

    #[test]
    fn a_disk_on_a_storage_needs_space_there() {
        let cfg = brigade_access::parse_user_cfg(
            "user:vmuser@pve:1:0::::::\nacl:1:/vms/300:vmuser@pve:PVEVMAdmin:\n\
             acl:1:/storage/local:vmuser@pve:PVEDatastoreUser:\n",
        )
        .expect("user.cfg");
        let perms = Permissions::new(&cfg, 1_800_000_000);
        let vmuser: Authid = "vmuser@pve".parse().expect("id");
        let create = |disk: &str| GuestRequest::Create {
            kind: GuestKind::Qemu,
            vmid: vmid(300),
            params: [("scsi0".to_string(), disk.to_string())]
                .into_iter()
                .collect(),
            ostemplate: None,
            start: false,
        };
        assert!(check_guest_request(&perms, &vmuser, "n1", &create("local:1")).is_ok());
        assert!(matches!(
            check_guest_request(&perms, &vmuser, "n1", &create("other:1")),
            Err(NodeError::Forbidden(_))
        ));
    }

    #[test]
    fn config_keys_need_their_own_privilege() {
        assert_eq!(config_key_privilege("memory"), P::VmConfigMemory);
        assert_eq!(config_key_privilege("net0"), P::VmConfigNetwork);
        assert_eq!(config_key_privilege("scsi12"), P::VmConfigDisk);
        assert_eq!(config_key_privilege("cores"), P::VmConfigCpu);
        assert_eq!(config_key_privilege("description"), P::VmConfigOptions);
    }

    #[test]
    fn an_auditor_may_look_but_not_stop_and_invisible_guests_do_not_exist() {
        let cfg = cfg();
        let perms = Permissions::new(&cfg, 1_800_000_000);
        let auditor: Authid = "auditor@pve".parse().expect("id");
        let vmuser: Authid = "vmuser@pve".parse().expect("id");
        let kind = GuestKind::Lxc;
        let stop = GuestRequest::Stop {
            kind,
            vmid: vmid(200),
        };
        let status = GuestRequest::Status {
            kind,
            vmid: vmid(200),
        };
        assert!(matches!(
            check_guest_request(&perms, &auditor, "n1", &stop),
            Err(NodeError::Forbidden(_))
        ));
        assert!(check_guest_request(&perms, &auditor, "n1", &status).is_ok());
        assert!(check_guest_request(&perms, &vmuser, "n1", &stop).is_ok());
        let other = GuestRequest::Stop {
            kind,
            vmid: vmid(201),
        };
        let hidden = check_guest_request(&perms, &vmuser, "n1", &other).expect_err("hidden");
        let missing = no_such_guest(Some(kind), vmid(201));
        assert_eq!(hidden.to_string(), missing.to_string());
        assert_eq!(hidden.status(), 404);
        let memory = GuestRequest::SetConfig {
            kind,
            vmid: vmid(200),
            set: BTreeMap::from([("memory".to_string(), "512".to_string())]),
            delete: vec![],
            digest: None,
        };
        assert!(check_guest_request(&perms, &vmuser, "n1", &memory).is_err());
        assert!(check_guest_request(&perms, &vmuser, "n1", &GuestRequest::LocalStates).is_err());
        let root = super::super::node_itself();
        assert!(check_guest_request(&perms, &root, "n1", &GuestRequest::LocalStates).is_ok());
    }
}
