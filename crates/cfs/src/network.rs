//! Raft's transport: JSON over the nodes' mutual-TLS RPC, relaying the leader's quorum lease.

use std::sync::Arc;
use std::time::Instant;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::quorum::QuorumTracker;
use crate::types::{Member, NodeId, TypeConfig};

/// Header carrying the leader's remaining quorum lease, in milliseconds.
pub const LEASE_HEADER: &str = "x-brigade-lease-ms";

/// Makes a link per peer.
#[derive(Clone)]
pub struct RaftTransport {
    pub client: reqwest::Client,
    pub quorum: Arc<QuorumTracker>,
}

impl RaftNetworkFactory<TypeConfig> for RaftTransport {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerLink {
        PeerLink {
            target,
            base: format!("https://{}", node.rpc_addr),
            client: self.client.clone(),
            quorum: self.quorum.clone(),
        }
    }
}

/// The connection to one peer.
pub struct PeerLink {
    target: NodeId,
    base: String,
    client: reqwest::Client,
    quorum: Arc<QuorumTracker>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

impl PeerLink {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Member, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let lease = self.quorum.leader_lease_remaining(Instant::now());
        let resp = self
            .client
            .post(format!("{}{}", self.base, path))
            .header(LEASE_HEADER, lease.as_millis().to_string())
            .timeout(option.hard_ttl())
            .json(req)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&Msg(e.to_string())))
                } else {
                    RPCError::Network(NetworkError::new(&Msg(e.to_string())))
                }
            })?;
        if !resp.status().is_success() {
            let msg = format!("{} answered HTTP {}", self.base, resp.status());
            return Err(RPCError::Network(NetworkError::new(&Msg(msg))));
        }
        let result: Result<Resp, RaftError<NodeId, E>> = resp
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&Msg(e.to_string()))))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.call("/raft/append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call("/raft/snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.call("/raft/vote", &rpc, &option).await
    }
}
