//! Cluster administration through the leader: removing nodes and the qdevice, retiring.

use std::sync::Arc;

use brigade_cfs::CfsError;
use brigade_core::cluster_conf::ClusterConf;
use brigade_core::{layout, NodeName};

use crate::error::NodeError;
use crate::node::{ClusterRuntime, Node};
use brigade_api::cluster::*;
use brigade_api::ErrorBody;

use super::{read_cluster_conf_versioned, write_op, JOIN_REQUEST_TIMEOUT};

impl Node {
    /// Runs a leader-only operation here if this node leads, else on the leader.
    pub async fn admin(self: &Arc<Self>, op: AdminOp) -> Result<AdminResult, NodeError> {
        let rt = self.require_cluster()?.clone();
        let status = rt.cfs.status();
        if status.leader == Some(rt.membership.node_id) {
            return self.admin_as_leader(&rt, op).await;
        }
        let leader = status
            .leader
            .and_then(|l| status.members.iter().find(|m| m.id == l))
            .ok_or(NodeError::Cfs(CfsError::NoLeader))?;
        let resp = rt
            .rpc_client
            .post(format!("https://{}/node/admin", leader.rpc_addr))
            .timeout(JOIN_REQUEST_TIMEOUT)
            .json(&op)
            .send()
            .await
            .map_err(NodeError::peer(format!(
                "cannot reach the leader {}",
                leader.name
            )))?;
        let result: Result<AdminResult, ErrorBody> = resp.json().await.map_err(NodeError::peer(
            format!("bad answer of the leader {}", leader.name),
        ))?;
        result.map_err(NodeError::from)
    }

    pub(super) async fn admin_as_leader(
        &self,
        rt: &ClusterRuntime,
        op: AdminOp,
    ) -> Result<AdminResult, NodeError> {
        match op {
            AdminOp::Join(app) => self.grant_join(rt, app).await.map(AdminResult::Joined),
            AdminOp::DelNode { name } => self
                .remove_node(rt, &name)
                .await
                .map(|()| AdminResult::Removed),
            AdminOp::RemoveQdevice => self.remove_qdevice(rt).await.map(|()| AdminResult::Removed),
        }
    }

    pub(super) async fn remove_node(
        &self,
        rt: &ClusterRuntime,
        name: &str,
    ) -> Result<(), NodeError> {
        let name: NodeName = name.parse().map_err(NodeError::Format)?;
        let (mut conf, version) = read_cluster_conf_versioned(&rt.cfs)?;
        let entry = conf
            .node(&name)
            .cloned()
            .ok_or_else(|| NodeError::NotFound(format!("no node named {name} in the cluster")))?;
        if entry.nodeid == rt.membership.node_id {
            return Err(NodeError::Invalid(format!(
                "{name} is the current leader; run delnode on another node after it steps down"
            )));
        }
        conf.nodes.retain(|n| n.name != name);
        let msg = format!("node {name} was removed from the cluster");
        self.retire(rt, entry.nodeid, conf, version, "removed", msg)
            .await
    }

    /// Takes a member out of Raft (if it is there) and writes the cluster.conf
    /// that no longer lists it, then logs the event.
    pub(super) async fn retire(
        &self,
        rt: &ClusterRuntime,
        nodeid: u64,
        mut conf: ClusterConf,
        version: u64,
        kind: &str,
        msg: String,
    ) -> Result<(), NodeError> {
        if rt.cfs.status().members.iter().any(|m| m.id == nodeid) {
            rt.cfs.remove_member(nodeid).await?;
        }
        conf.config_version += 1;
        rt.cfs
            .propose(write_op(
                layout::CLUSTER_CONF,
                conf.to_text(),
                Some(version),
            )?)
            .await?;
        self.log_event(kind, msg).await;
        Ok(())
    }

    pub(super) async fn remove_qdevice(&self, rt: &ClusterRuntime) -> Result<(), NodeError> {
        let (mut conf, version) = read_cluster_conf_versioned(&rt.cfs)?;
        let q = conf
            .qdevice
            .take()
            .ok_or_else(|| NodeError::NotFound("this cluster has no qdevice".into()))?;
        let msg = format!("qdevice {} at {} removed", q.name, q.address);
        self.retire(rt, q.nodeid, conf, version, "qdevice", msg)
            .await
    }

    /// `cluster qdevice remove`.
    pub async fn qdevice_remove(self: &Arc<Self>) -> Result<(), NodeError> {
        self.admin(AdminOp::RemoveQdevice).await.map(|_| ())
    }
}
