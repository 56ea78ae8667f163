//! Finding a guest's config in cfs: which node holds it, its text and version.

use brigade_cfs::Cfs;
use brigade_core::layout::{self, GuestKind};
use brigade_core::{CfsPath, NodeName, VmId};

use crate::error::NodeError;
use crate::node::cfs_path;

/// A guest config as found in cfs.
#[derive(Debug, Clone)]
pub struct Located {
    pub node: String,
    pub kind: GuestKind,
    pub vmid: VmId,
    pub path: CfsPath,
    pub version: u64,
    pub text: String,
}

/// Names of the node directories in cfs.
pub fn node_dirs(cfs: &Cfs) -> Vec<String> {
    cfs_path(layout::NODES_DIR)
        .ok()
        .and_then(|p| cfs.list(&p).ok())
        .map(|entries| {
            entries
                .into_iter()
                .filter(|e| e.dir)
                .map(|e| e.name)
                .collect()
        })
        .unwrap_or_default()
}

/// The guests whose configs are in `node`'s directory, VMs first, each by VMID.
pub fn guests_on(cfs: &Cfs, node: &NodeName) -> Vec<(GuestKind, VmId)> {
    let mut out = Vec::new();
    for kind in [GuestKind::Qemu, GuestKind::Lxc] {
        let dir = format!("{}/{}", layout::node_dir(node).as_str(), kind.dir());
        let Some(entries) = dir.parse::<CfsPath>().ok().and_then(|d| cfs.list(&d).ok()) else {
            continue;
        };
        for e in entries {
            let parsed = layout::parse_guest_config_path(&format!("{dir}/{}", e.name));
            if let Some(vmid) = parsed.and_then(|g| VmId::try_from(g.vmid).ok()) {
                out.push((kind, vmid));
            }
        }
    }
    out
}

/// Where `vmid` lives, of any kind, if anywhere.
pub fn find(cfs: &Cfs, vmid: VmId) -> Option<Located> {
    for node in node_dirs(cfs) {
        let Ok(name) = node.parse::<NodeName>() else {
            continue;
        };
        for kind in [GuestKind::Qemu, GuestKind::Lxc] {
            let path = kind.config_path(&name, vmid);
            if let Ok(f) = cfs.read(&path) {
                return Some(Located {
                    node: node.clone(),
                    kind,
                    vmid,
                    path,
                    version: f.version,
                    text: String::from_utf8_lossy(&f.data).into_owned(),
                });
            }
        }
    }
    None
}

/// What a guest of `kind` is called in messages.
pub fn noun(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "VM",
        GuestKind::Lxc => "container",
    }
}

/// Where `vmid` of `kind` lives; a clear error if nowhere or of another kind.
pub fn require(cfs: &Cfs, kind: GuestKind, vmid: VmId) -> Result<Located, NodeError> {
    match find(cfs, vmid) {
        Some(l) if l.kind == kind => Ok(l),
        Some(l) => Err(NodeError::Invalid(format!(
            "{vmid} is a {}, not a {} (use 'brigade {}')",
            noun(l.kind),
            noun(kind),
            match l.kind {
                GuestKind::Qemu => "vm",
                GuestKind::Lxc => "ct",
            }
        ))),
        None => Err(NodeError::NotFound(format!(
            "{} {vmid} does not exist",
            noun(kind)
        ))),
    }
}

/// Every VMID a guest config in cfs has, on any node.
pub fn used_vmids(cfs: &Cfs) -> std::collections::BTreeSet<u32> {
    node_dirs(cfs)
        .iter()
        .filter_map(|n| n.parse::<NodeName>().ok())
        .flat_map(|n| guests_on(cfs, &n))
        .map(|(_, v)| v.get())
        .collect()
}

/// The lowest VMID from [`brigade_core::ids::VMID_MIN`] that `used` lacks (None when
/// every one is taken), as Proxmox's `/cluster/nextid` answers.
pub fn first_free_vmid(used: &std::collections::BTreeSet<u32>) -> Option<VmId> {
    let mut want = brigade_core::ids::VMID_MIN;
    for v in used.range(want..) {
        if *v != want {
            break;
        }
        want = want.checked_add(1)?;
    }
    VmId::try_from(want).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_free_vmid_fills_the_lowest_gap_from_100() {
        let set = |v: &[u32]| v.iter().copied().collect();
        let free = |v: &[u32]| first_free_vmid(&set(v)).map(VmId::get);
        assert_eq!(free(&[]), Some(100));
        assert_eq!(free(&[100, 101, 103]), Some(102));
        assert_eq!(free(&[101, 102]), Some(100));
        assert_eq!(free(&[100, 101, 102]), Some(103));
        // Numbers below the range are not VMIDs and do not count.
        assert_eq!(free(&[1, 99, 100]), Some(101));
        assert_eq!(free(&[brigade_core::ids::VMID_MAX - 1]), Some(100));
        let top: std::collections::BTreeSet<u32> =
            (100..=105).chain([brigade_core::ids::VMID_MAX]).collect();
        assert_eq!(first_free_vmid(&top).map(VmId::get), Some(106));
    }
}
