//! `cluster delnode NODE [--force]`: refused for the node answering (like pvecm) and,
//! unless forced, while guests' configs are still in the node's directory; the removal
//! itself runs on the leader.

use std::sync::Arc;

use brigade_core::{layout, NodeName};

use crate::error::NodeError;
use crate::node::Node;
use brigade_api::cluster::AdminOp;

impl Node {
    /// `cluster delnode NODE [--force]` (refused for the node answering, like pvecm,
    /// and while guests' configs are still in its directory unless forced).
    pub async fn delnode(self: &Arc<Self>, name: &str, force: bool) -> Result<(), NodeError> {
        if name == self.config.name.as_str() {
            return Err(NodeError::Invalid(format!(
                "cannot remove the local node {name}: run delnode on another member"
            )));
        }
        if !force {
            let rt = self.require_cluster()?;
            if let Ok(node) = name.parse::<NodeName>() {
                let guests = crate::guests::guests_on(&rt.cfs, &node);
                if let Some(refusal) = delnode_refusal(&node, &guests) {
                    return Err(refusal);
                }
            }
        }
        self.admin(AdminOp::DelNode {
            name: name.to_string(),
        })
        .await
        .map(|_| ())
    }
}

/// Why `delnode NODE` without --force is refused: guests whose configs are still in the
/// node's directory would be left on a node that no longer exists.
fn delnode_refusal(
    node: &NodeName,
    guests: &[(layout::GuestKind, brigade_core::VmId)],
) -> Option<NodeError> {
    if guests.is_empty() {
        return None;
    }
    let list: Vec<String> = guests
        .iter()
        .map(|(kind, vmid)| format!("{} {vmid}", crate::guests::noun(*kind)))
        .collect();
    Some(NodeError::Conflict(format!(
        "node {node} still holds guests: {} (configs under nodes/{node}); move them first ('brigade vm migrate VMID NODE' while it runs), or remove the node anyway with 'brigade cluster delnode {node} --force' (their configs stay under nodes/{node})",
        list.join(", ")
    )))
}

#[cfg(test)]
mod delnode_tests {
    use super::*;

    #[test]
    fn delnode_names_the_guests_left_on_the_node() {
        let n2: NodeName = "n2".parse().expect("name");
        assert!(delnode_refusal(&n2, &[]).is_none());
        let guests = [
            (
                layout::GuestKind::Qemu,
                brigade_core::VmId::try_from(100).expect("vmid"),
            ),
            (
                layout::GuestKind::Lxc,
                brigade_core::VmId::try_from(102).expect("vmid"),
            ),
        ];
        let e = delnode_refusal(&n2, &guests).expect("refused").to_string();
        assert!(e.contains("VM 100, container 102"), "{e}");
        assert!(e.contains("nodes/n2"), "{e}");
        assert!(e.contains("'brigade cluster delnode n2 --force'"), "{e}");
    }
}
