//! The batcher: concurrent proposals become few Raft entries, each op keeping its own result.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::command::{CommandResult, Op, Proposal};
use crate::error::CfsError;
use crate::types::Raft;

use super::{MAX_BATCH_BYTES, MAX_BATCH_OPS, MAX_INFLIGHT_BATCHES, WRITE_TIMEOUT};

fn op_bytes(op: &Op) -> usize {
    match op {
        Op::Write { data, .. } => data.len(),
        Op::Batch { ops } => ops.iter().map(op_bytes).sum(),
        _ => 0,
    }
}

/// Turns concurrent proposals into few Raft entries (each op keeps its own result).
pub(super) async fn run_batcher(
    current: Arc<RwLock<Raft>>,
    mut rx: mpsc::UnboundedReceiver<(Op, oneshot::Sender<CommandResult>)>,
) {
    let inflight = Arc::new(Semaphore::new(MAX_INFLIGHT_BATCHES));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = inflight.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = op_bytes(&first.0);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_OPS && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(next) => {
                    bytes += op_bytes(&next.0);
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let raft = current.read().unwrap_or_else(|p| p.into_inner()).clone();
        tokio::spawn(async move {
            let (ops, waiters): (Vec<Op>, Vec<_>) = batch.into_iter().unzip();
            let proposal = Proposal {
                ops,
                mtime: brigade_core::unix_now_secs(),
            };
            let started = Instant::now();
            let result = tokio::time::timeout(WRITE_TIMEOUT, raft.client_write(proposal)).await;
            tracing::debug!(
                micros = started.elapsed().as_micros() as u64,
                ops = waiters.len(),
                "client_write"
            );
            let fail = |e: CfsError, waiters: Vec<oneshot::Sender<CommandResult>>| {
                for w in waiters {
                    let _ = w.send(Err(e.clone()));
                }
            };
            match result {
                Ok(Ok(resp)) => {
                    let mut answers = resp.data.into_iter();
                    for w in waiters {
                        let answer = answers
                            .next()
                            .unwrap_or_else(|| Err(CfsError::storage("missing answer in batch")));
                        let _ = w.send(answer);
                    }
                }
                Err(_) => fail(
                    CfsError::Timeout {
                        secs: WRITE_TIMEOUT.as_secs(),
                    },
                    waiters,
                ),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                    fail(CfsError::NoLeader, waiters);
                }
                Ok(Err(e)) => fail(CfsError::rpc(e), waiters),
            }
            drop(permit);
        });
    }
}
