//! The internal RPC of cfs on the node's mutual-TLS port: Raft and requests
//! forwarded to the leader, as framed messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::raft::{AppendEntriesResponse, InstallSnapshotRequest, VoteRequest};

use brigade_net::frames::{Handler, HandlerError};

use crate::command::Op;
use crate::election_guard::PreVoteRequest;
use crate::network::{
    AppendFrame, KIND_APPEND, KIND_PRE_VOTE, KIND_PROPOSE, KIND_READ_INDEX, KIND_SNAPSHOT,
    KIND_VOTE,
};
use crate::service::Cfs;
use crate::types::{NodeId, TypeConfig};

/// The handler of Raft's framed messages.
pub fn frame_handler(cfs: Arc<Cfs>) -> Handler {
    Arc::new(move |kind, payload| {
        let cfs = cfs.clone();
        Box::pin(async move {
            handle_frame(&cfs, kind, payload)
                .await
                .map_err(HandlerError::from)
        })
    })
}

/// Why a framed request was refused (the caller gets the message).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Raft is stopped here until the stores are reopened.
    #[error("storage failed on this node: {0}")]
    StorageFailed(String),
    /// The payload is not what its kind promises.
    #[error("bad {what}: {source}")]
    Decode {
        /// What the payload should have been.
        what: &'static str,
        /// Why it was not.
        #[source]
        source: serde_json::Error,
    },
    /// The answer could not be encoded.
    #[error("{0}")]
    Encode(#[source] serde_json::Error),
    /// A frame kind this node does not know.
    #[error("unknown frame kind {0}")]
    UnknownKind(u16),
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Bytes, FrameError> {
    serde_json::to_vec(v)
        .map(Bytes::from)
        .map_err(FrameError::Encode)
}

fn decode<'a, T: serde::Deserialize<'a>>(
    what: &'static str,
    payload: &'a [u8],
) -> Result<T, FrameError> {
    serde_json::from_slice(payload).map_err(|source| FrameError::Decode { what, source })
}

async fn handle_frame(cfs: &Cfs, kind: u16, payload: Bytes) -> Result<Bytes, FrameError> {
    if matches!(kind, KIND_APPEND | KIND_VOTE | KIND_SNAPSHOT) {
        // Raft is stopped here until the stores are reopened: say why, without asking it.
        if let Some(e) = cfs.storage_error() {
            return Err(FrameError::StorageFailed(e));
        }
    }
    match kind {
        KIND_APPEND => {
            let frame: AppendFrame = decode("append", &payload)?;
            let received = Instant::now();
            let entries = frame.rpc.entries.len();
            let result = cfs.raft().append_entries(frame.rpc).await;
            tracing::debug!(
                micros = received.elapsed().as_micros() as u64,
                entries,
                "append_entries handled"
            );
            if let Ok(resp) = &result {
                if !matches!(resp, AppendEntriesResponse::HigherVote(_)) {
                    cfs.note_leader_contact();
                    cfs.quorum()
                        .on_leader_message(Duration::from_millis(frame.lease_ms), received);
                }
            }
            encode(&result)
        }
        KIND_VOTE => {
            let rpc: VoteRequest<NodeId> = decode("vote", &payload)?;
            encode(&cfs.raft().vote(rpc).await)
        }
        KIND_SNAPSHOT => {
            let rpc: InstallSnapshotRequest<TypeConfig> = decode("snapshot", &payload)?;
            let result = cfs.raft().install_snapshot(rpc).await;
            if result.is_ok() {
                cfs.note_leader_contact();
            }
            encode(&result)
        }
        KIND_PRE_VOTE => {
            let req: PreVoteRequest = decode("pre-vote", &payload)?;
            encode(&cfs.answer_pre_vote(&req))
        }
        KIND_PROPOSE => {
            let op: Op = decode("proposal", &payload)?;
            encode(&cfs.propose_as_leader(op).await)
        }
        KIND_READ_INDEX => encode(&cfs.read_index().await),
        other => Err(FrameError::UnknownKind(other)),
    }
}
