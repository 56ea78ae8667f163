//! Writes: quorum-gated proposals, forwarded to the leader when this node is not it.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::command::{Applied, Op};
use crate::error::CfsError;
use crate::network::KIND_PROPOSE;
use crate::types::Member;

use super::{Cfs, LOCAL_APPLY_TIMEOUT, WRITE_TIMEOUT};

impl Cfs {
    /// Proposes an operation: fails at once without quorum, forwards to the
    /// leader when this node is not it, waits for commit and apply.
    pub async fn propose(&self, op: Op) -> Result<Applied, CfsError> {
        let started = Instant::now();
        let result = self.propose_inner(op).await;
        if result.is_ok() {
            self.write_latency.observe(started.elapsed());
        }
        result
    }

    /// Latency of successful writes proposed through this node.
    pub fn write_latency(&self) -> crate::latency::HistogramSnapshot {
        self.write_latency.snapshot()
    }

    async fn propose_inner(&self, op: Op) -> Result<Applied, CfsError> {
        self.check_storage()?;
        if !self.is_quorate() {
            return Err(CfsError::NotQuorate);
        }
        // The leader and its address only: no clone of the whole metrics per write.
        let leader = {
            let m = self.raft().metrics();
            let m = m.borrow();
            match m.current_leader {
                Some(leader) if leader == self.id => None,
                Some(leader) => Some(
                    m.membership_config
                        .membership()
                        .get_node(&leader)
                        .cloned()
                        .ok_or(CfsError::NoLeader)?,
                ),
                None => return Err(CfsError::NoLeader),
            }
        };
        let Some(node) = leader else {
            return self.propose_as_leader(op).await;
        };
        let applied: Applied = self.forward(&node, KIND_PROPOSE, &op).await?;
        // Read your writes: a forwarded write returns once this replica applied it too.
        if !self
            .wait_applied(applied.version, LOCAL_APPLY_TIMEOUT)
            .await
        {
            tracing::debug!(
                version = applied.version,
                "write committed but not yet applied here"
            );
        }
        Ok(applied)
    }

    /// Runs a proposal on the leader (also the target of forwarded writes).
    pub async fn propose_as_leader(&self, op: Op) -> Result<Applied, CfsError> {
        self.check_storage()?;
        if !self.is_quorate() {
            return Err(CfsError::NotQuorate);
        }
        let op = self.resolve_lock_expiry(op);
        let (tx, rx) = oneshot::channel();
        self.proposals
            .send((op, tx))
            .map_err(|_| CfsError::storage("the proposal batcher stopped"))?;
        match rx.await {
            Ok(answer) => answer,
            Err(_) => Err(CfsError::NoLeader),
        }
    }

    /// On the leader: a lock held by another owner whose lease has run out on
    /// this node's monotonic clock (counting from when this node last saw it
    /// renewed, and at least one full lease since it became leader) may be stolen.
    fn resolve_lock_expiry(&self, op: Op) -> Op {
        let Op::Lock {
            path,
            owner,
            lease_ms,
            steal_generation: None,
        } = op
        else {
            return op;
        };
        let held = self.shared.read().tree.lock(&path).cloned();
        let steal_generation = held.and_then(|h| {
            if h.owner == owner {
                return None;
            }
            let lease = Duration::from_millis(h.lease_ms);
            let since_leader =
                (*self.leader_since.lock().unwrap_or_else(|p| p.into_inner()))?.elapsed();
            let since_seen = self
                .shared
                .lock_seen_at(path.as_str())
                .map(|t| t.elapsed())
                .unwrap_or(since_leader);
            (since_leader > lease && since_seen > lease).then_some(h.generation)
        });
        Op::Lock {
            path,
            owner,
            lease_ms,
            steal_generation,
        }
    }

    pub(super) async fn forward<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        leader: &Member,
        kind: u16,
        req: &Req,
    ) -> Result<Resp, CfsError> {
        let result: Result<Resp, CfsError> = self
            .transport
            .request(leader, kind, req, WRITE_TIMEOUT)
            .await
            .map_err(|e| CfsError::rpc(format!("forwarding to leader {}: {e}", leader.name)))?;
        result
    }
}
