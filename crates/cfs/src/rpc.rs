//! The internal RPC routes of cfs, served on the node's mutual-TLS port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use crate::command::{Applied, Op};
use crate::error::CfsError;
use crate::network::LEASE_HEADER;
use crate::service::Cfs;
use crate::types::{NodeId, TypeConfig};

/// Routes for Raft traffic and forwarded client requests.
pub fn router(cfs: Arc<Cfs>) -> Router {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/cfs/propose", post(propose))
        .route("/cfs/read-index", post(read_index))
        .with_state(cfs)
}

async fn append(
    State(cfs): State<Arc<Cfs>>,
    headers: HeaderMap,
    Json(req): Json<AppendEntriesRequest<TypeConfig>>,
) -> Json<Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>> {
    let lease_ms: u64 = headers
        .get(LEASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let received = Instant::now();
    let n = req.entries.len();
    let result = cfs.raft().append_entries(req).await;
    tracing::debug!(
        micros = received.elapsed().as_micros() as u64,
        entries = n,
        "append_entries handled"
    );
    if let Ok(resp) = &result {
        if !matches!(resp, AppendEntriesResponse::HigherVote(_)) {
            cfs.quorum()
                .on_leader_message(Duration::from_millis(lease_ms), received);
        }
    }
    Json(result)
}

async fn vote(
    State(cfs): State<Arc<Cfs>>,
    Json(req): Json<VoteRequest<NodeId>>,
) -> Json<Result<VoteResponse<NodeId>, RaftError<NodeId>>> {
    Json(cfs.raft().vote(req).await)
}

async fn snapshot(
    State(cfs): State<Arc<Cfs>>,
    Json(req): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Json<Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>> {
    Json(cfs.raft().install_snapshot(req).await)
}

async fn propose(
    State(cfs): State<Arc<Cfs>>,
    Json(op): Json<Op>,
) -> Json<Result<Applied, CfsError>> {
    Json(cfs.propose_as_leader(op).await)
}

async fn read_index(State(cfs): State<Arc<Cfs>>) -> Json<Result<u64, CfsError>> {
    Json(cfs.read_index().await)
}
