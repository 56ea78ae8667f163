//! Raft's transport: JSON messages over framed mutual-TLS connections (one per
//! peer), relaying the leader's quorum lease with every append.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

use tokio::sync::watch;

use crate::early_ack::{self, Durable};
use crate::learner_beats::{BeatGate, LearnerView};
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
/// A pre-vote of the election guard.
pub const KIND_PRE_VOTE: u16 = 6;

/// An append request with the leader's remaining quorum lease.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct AppendFrame {
    pub lease_ms: u64,
    pub rpc: AppendEntriesRequest<TypeConfig>,
}

/// Makes (and shares) framed connections to peers, one per link.
#[derive(Clone)]
pub struct RaftTransport {
    tls: rustls::ClientConfig,
    local: IpAddr,
    local1: Option<IpAddr>,
    quorum: Arc<QuorumTracker>,
    peers: Arc<Mutex<HashMap<String, Arc<PeerClients>>>>,
    /// Who this leader beats only every `learner_every` (see `learner_beats`).
    learners: Arc<Mutex<LearnerView>>,
    /// None: every member is beaten at the heartbeat pace.
    learner_every: Option<Duration>,
    /// Heartbeats to learners answered from their last acknowledgement, not sent.
    beats_spared: Arc<AtomicU64>,
    /// What the log holds durably: the commit index sent never passes it (`early_ack.rs`).
    durable: DurableSlot,
}

type DurableSlot = Arc<Mutex<Option<watch::Receiver<Durable>>>>;

/// A peer's connections, one per link, and the link that worked last.
pub struct PeerClients {
    links: Vec<Arc<FrameClient>>,
    preferred: AtomicUsize,
}

impl PeerClients {
    /// Calls on the preferred link; on failure, once more on the other link
    /// (each attempt gets its share of the deadline), which then becomes preferred.
    pub async fn call(&self, kind: u16, body: Bytes, ttl: Duration) -> Result<Bytes, CallError> {
        let n = self.links.len().max(1);
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let share = if n > 1 { ttl / 2 } else { ttl };
        let mut last_err = CallError::Unreachable("no address".into());
        for attempt in 0..n {
            let i = (first + attempt) % n;
            match self.links[i].call(kind, body.clone(), share).await {
                Ok(answer) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(e @ CallError::Remote(_)) => return Err(e),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }
}

impl RaftTransport {
    pub fn new(
        tls: rustls::ClientConfig,
        local: IpAddr,
        local1: Option<IpAddr>,
        quorum: Arc<QuorumTracker>,
        learner_every: Option<Duration>,
    ) -> Self {
        RaftTransport {
            tls,
            local,
            local1,
            quorum,
            peers: Arc::new(Mutex::new(HashMap::new())),
            learners: Arc::new(Mutex::new(LearnerView::default())),
            learner_every,
            beats_spared: Arc::new(AtomicU64::new(0)),
            durable: Arc::default(),
        }
    }

    /// Follows the durability of the log now in use (see `early_ack.rs`).
    pub fn follow_durable(&self, durable: watch::Receiver<Durable>) {
        *self.durable.lock().unwrap_or_else(|p| p.into_inner()) = Some(durable);
    }

    /// Who is a learner of this leader (updated from its metrics and before promotions).
    pub fn learners(&self) -> std::sync::MutexGuard<'_, LearnerView> {
        self.learners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Heartbeats to learners not sent so far because they would only have repeated
    /// what the learner had acknowledged.
    pub fn beats_spared(&self) -> u64 {
        self.beats_spared.load(Ordering::Relaxed)
    }

    /// The connections to a member (link0, then link1 when both sides have one).
    pub fn peer(&self, member: &Member) -> Option<Arc<PeerClients>> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = peers.get(&member.rpc_addr) {
            return Some(p.clone());
        }
        let link0: SocketAddr = member.rpc_addr.parse().ok()?;
        let mut links = vec![Arc::new(FrameClient::new(
            link0,
            Some(self.local),
            self.tls.clone(),
        ))];
        if let (Some(addr1), Some(local1)) = (
            member
                .rpc_addr1
                .as_ref()
                .and_then(|a| a.parse::<SocketAddr>().ok()),
            self.local1,
        ) {
            links.push(Arc::new(FrameClient::new(
                addr1,
                Some(local1),
                self.tls.clone(),
            )));
        }
        let p = Arc::new(PeerClients {
            links,
            preferred: AtomicUsize::new(0),
        });
        peers.insert(member.rpc_addr.clone(), p.clone());
        Some(p)
    }

    /// Sends one framed request to a member and decodes the answer.
    pub async fn request<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        member: &Member,
        kind: u16,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, CallError> {
        let peer = self
            .peer(member)
            .ok_or_else(|| CallError::Unreachable(format!("bad address {:?}", member.rpc_addr)))?;
        let body = serde_json::to_vec(req).map_err(|e| CallError::Network(e.to_string()))?;
        let answer = peer.call(kind, Bytes::from(body), timeout).await?;
        serde_json::from_slice(&answer)
            .map_err(|e| CallError::Network(format!("bad answer from {}: {e}", member.name)))
    }
}

impl RaftNetworkFactory<TypeConfig> for RaftTransport {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> PeerLink {
        PeerLink {
            target,
            addr: node.rpc_addr.clone(),
            client: self.peer(node),
            quorum: self.quorum.clone(),
            learners: self.learners.clone(),
            learner_every: self.learner_every,
            beats_spared: self.beats_spared.clone(),
            gate: BeatGate::default(),
            durable: self.durable.clone(),
        }
    }
}

/// The connection to one peer.
pub struct PeerLink {
    target: NodeId,
    addr: String,
    client: Option<Arc<PeerClients>>,
    quorum: Arc<QuorumTracker>,
    learners: Arc<Mutex<LearnerView>>,
    learner_every: Option<Duration>,
    beats_spared: Arc<AtomicU64>,
    /// What the target last acknowledged, to tell a repeated heartbeat from news.
    gate: BeatGate,
    durable: DurableSlot,
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
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        let durable = self
            .durable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(mut durable) = durable {
            rpc.leader_commit = early_ack::commit_to_send(&mut durable, rpc.leader_commit).await;
        }
        let now = Instant::now();
        if let Some(every) = self.learner_every {
            let learner = || {
                self.learners
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_learner(self.target, &rpc.vote)
            };
            if self.gate.is_repeat(&rpc, now, every) && learner() {
                self.beats_spared.fetch_add(1, Ordering::Relaxed);
                return Ok(AppendEntriesResponse::Success);
            }
        }
        let lease_ms = self.quorum.leader_lease_remaining(now).as_millis() as u64;
        let frame = AppendFrame { lease_ms, rpc };
        let result = self.call(KIND_APPEND, &frame, &option).await;
        tracing::debug!(
            target_node = self.target,
            entries = frame.rpc.entries.len(),
            micros = now.elapsed().as_micros() as u64,
            "append_entries sent and answered"
        );
        match &result {
            Ok(AppendEntriesResponse::Success) => self.gate.acknowledged(&frame.rpc, now),
            _ => self.gate.forget(),
        }
        result
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.gate.forget();
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
