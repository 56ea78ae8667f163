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
    }
}
