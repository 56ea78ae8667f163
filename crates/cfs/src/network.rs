//! Raft's transport: JSON messages over framed mutual-TLS connections (one per
//! peer), relaying the leader's quorum lease with every append.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use brigade_net::frames::{CallError, FrameClient};

use crate::quorum::QuorumTracker;
use crate::types::{Member, NodeId, TypeConfig};

/// Frame kinds of the Raft protocol.
pub const KIND_APPEND: u16 = 1;
pub const KIND_VOTE: u16 = 2;
pub const KIND_SNAPSHOT: u16 = 3;
/// A client write forwarded to the leader.
pub const KIND_PROPOSE: u16 = 4;
/// A read-index request forwarded to the leader.
pub const KIND_READ_INDEX: u16 = 5;

/// An append request with the leader's remaining quorum lease.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct AppendFrame {
    pub lease_ms: u64,
    pub rpc: AppendEntriesRequest<TypeConfig>,
}

/// Makes (and shares) one framed connection per peer address.
#[derive(Clone)]
pub struct RaftTransport {
    tls: rustls::ClientConfig,
    local: IpAddr,
    quorum: Arc<QuorumTracker>,
    clients: Arc<Mutex<HashMap<SocketAddr, Arc<FrameClient>>>>,
}

impl RaftTransport {
    pub fn new(tls: rustls::ClientConfig, local: IpAddr, quorum: Arc<QuorumTracker>) -> Self {
        RaftTransport {
            tls,
            local,
            quorum,
            clients: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Sends one framed request to `addr` and decodes the answer.
    pub async fn request<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: SocketAddr,
        kind: u16,
        req: &Req,
        timeout: std::time::Duration,
    ) -> Result<Resp, CallError> {
        let body = serde_json::to_vec(req).map_err(|e| CallError::Network(e.to_string()))?;
        let answer = self
            .client(addr)
            .call(kind, Bytes::from(body), timeout)
            .await?;
        serde_json::from_slice(&answer)
            .map_err(|e| CallError::Network(format!("bad answer from {addr}: {e}")))
    }

    fn client(&self, addr: SocketAddr) -> Arc<FrameClient> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(addr)
            .or_insert_with(|| Arc::new(FrameClient::new(addr, Some(self.local), self.tls.clone())))
            .clone()
    }
}

impl RaftNetworkFactory<TypeConfig> for RaftTransport {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerLink {
        let client = node
            .rpc_addr
            .parse::<SocketAddr>()
            .ok()
            .map(|a| self.client(a));
        PeerLink {
            target,
            addr: node.rpc_addr.clone(),
            client,
            quorum: self.quorum.clone(),
        }
    }
}

/// The connection to one peer.
pub struct PeerLink {
    target: NodeId,
    addr: String,
    client: Option<Arc<FrameClient>>,
    quorum: Arc<QuorumTracker>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

impl PeerLink {
    async fn call<Req, Resp, E>(
        &self,
        kind: u16,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Member, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let network = |m: String| RPCError::Network(NetworkError::new(&Msg(m)));
        let client = self.client.as_ref().ok_or_else(|| {
            RPCError::Unreachable(Unreachable::new(&Msg(format!(
                "bad peer address {:?}",
                self.addr
            ))))
        })?;
        let body = serde_json::to_vec(req).map_err(|e| network(e.to_string()))?;
        let answer = client
            .call(kind, Bytes::from(body), option.hard_ttl())
            .await
            .map_err(|e| match e {
                CallError::Unreachable(m) => RPCError::Unreachable(Unreachable::new(&Msg(m))),
                other => network(other.to_string()),
            })?;
        let result: Result<Resp, RaftError<NodeId, E>> = serde_json::from_slice(&answer)
            .map_err(|e| network(format!("bad answer from {}: {e}", self.addr)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        let lease_ms = self
            .quorum
            .leader_lease_remaining(Instant::now())
            .as_millis() as u64;
        self.call(KIND_APPEND, &AppendFrame { lease_ms, rpc }, &option)
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(KIND_SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.call(KIND_VOTE, &rpc, &option).await
    }
}
