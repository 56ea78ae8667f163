//! The file layout of the replicated tree, mirroring Proxmox's /etc/pve.

use crate::{CfsPath, NodeName, VmId};

/// Cluster name, nodes, links, votes, timeouts.
pub const CLUSTER_CONF: &str = "cluster.conf";
/// Cluster-wide options (`key: value`).
pub const DATACENTER_CFG: &str = "datacenter.cfg";
/// Storage definitions (section config).
pub const STORAGE_CFG: &str = "storage.cfg";
/// HA resources.
pub const HA_RESOURCES_CFG: &str = "ha/resources.cfg";
/// HA groups.
pub const HA_GROUPS_CFG: &str = "ha/groups.cfg";
/// The CRM's state.
pub const HA_MANAGER_STATUS: &str = "ha/manager_status";
/// The cluster CA certificate (public, like pve-root-ca.pem).
pub const CA_CERT: &str = "brigade-root-ca.pem";
/// Root-only directory.
pub const PRIV_DIR: &str = "priv";
/// The cluster CA private key.
pub const CA_KEY: &str = "priv/brigade-root-ca.key";
/// The cluster key authenticating heartbeats (like corosync's authkey).
pub const AUTHKEY: &str = "priv/authkey";
/// The cluster log: one JSON event per line, bounded.
pub const CLUSTER_LOG: &str = "cluster.log";
/// API token hashes.
pub const TOKENS_CFG: &str = "priv/token.cfg";
/// One-time join tokens, one file each (hash only).
pub const JOIN_TOKENS_DIR: &str = "priv/join-tokens";
/// Directory of per-node directories.
pub const NODES_DIR: &str = "nodes";

fn path(s: &str) -> CfsPath {
    // Every string built here is made of validated parts.
    s.parse().unwrap_or_else(|_| CfsPath::root())
}

/// `nodes/<node>`.
pub fn node_dir(node: &NodeName) -> CfsPath {
    path(&format!("{NODES_DIR}/{node}"))
}

/// `nodes/<node>/qemu-server/<vmid>.conf`.
pub fn qemu_config(node: &NodeName, vmid: VmId) -> CfsPath {
    path(&format!("{NODES_DIR}/{node}/qemu-server/{vmid}.conf"))
}

/// `nodes/<node>/lxc/<vmid>.conf`.
pub fn lxc_config(node: &NodeName, vmid: VmId) -> CfsPath {
    path(&format!("{NODES_DIR}/{node}/lxc/{vmid}.conf"))
}

/// `nodes/<node>/lrm_status`.
pub fn lrm_status(node: &NodeName) -> CfsPath {
    path(&format!("{NODES_DIR}/{node}/lrm_status"))
}

/// The kind of guest a config file describes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// A QEMU virtual machine (`qemu-server/`).
    Qemu,
    /// A container (`lxc/`).
    Lxc,
}

impl GuestKind {
    /// The directory of this kind under a node directory.
    pub fn dir(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu-server",
            GuestKind::Lxc => "lxc",
        }
    }

    /// The config path of a guest of this kind on `node`.
    pub fn config_path(self, node: &NodeName, vmid: VmId) -> CfsPath {
        match self {
            GuestKind::Qemu => qemu_config(node, vmid),
            GuestKind::Lxc => lxc_config(node, vmid),
        }
    }
}

impl std::fmt::Display for GuestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        })
    }
}

/// A guest config path, split: `nodes/<node>/{qemu-server,lxc}/<vmid>.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestConfigPath {
    pub node: String,
    pub kind: GuestKind,
    pub vmid: u32,
}

/// Recognizes a guest config path (and nothing else).
pub fn parse_guest_config_path(path: &str) -> Option<GuestConfigPath> {
    let rest = path.strip_prefix(NODES_DIR)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let (node, dir, file) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || node.is_empty() {
        return None;
    }
    let kind = match dir {
        "qemu-server" => GuestKind::Qemu,
        "lxc" => GuestKind::Lxc,
        _ => return None,
    };
    let digits = file.strip_suffix(".conf")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    let vmid: u32 = digits.parse().ok()?;
    Some(GuestConfigPath {
        node: node.to_string(),
        kind,
        vmid,
    })
}

/// The directories every node gets when it joins.
pub fn node_skeleton(node: &NodeName) -> Vec<CfsPath> {
    ["", "/qemu-server", "/lxc"]
        .iter()
        .map(|suffix| path(&format!("{NODES_DIR}/{node}{suffix}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let n: NodeName = "n1".parse().expect("valid");
        let v: VmId = "100".parse().expect("valid");
        assert_eq!(qemu_config(&n, v).as_str(), "nodes/n1/qemu-server/100.conf");
        assert_eq!(lxc_config(&n, v).as_str(), "nodes/n1/lxc/100.conf");
        assert_eq!(node_skeleton(&n).len(), 3);
        assert!(path(TOKENS_CFG).is_private());
        assert_eq!(
            parse_guest_config_path("nodes/n1/lxc/101.conf"),
            Some(GuestConfigPath {
                node: "n1".into(),
                kind: GuestKind::Lxc,
                vmid: 101
            })
        );
        for bad in [
            "nodes/n1/qemu-server/100.conf.tmp",
            "nodes/n1/qemu-server/0100.conf",
            "nodes/n1/qemu-server/x.conf",
            "nodes/n1/other/100.conf",
            "nodes/n1/qemu-server/sub/100.conf",
            "cluster.conf",
        ] {
            assert_eq!(parse_guest_config_path(bad), None, "{bad}");
        }
    }
}
