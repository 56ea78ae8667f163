//! The cluster log: a replicated, bounded list of cluster events (joins,
//! deaths, quorum and leader changes, clock alarms) in `cluster.log`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use brigade_cfs::{CfsError, Op};
use brigade_core::layout;

use crate::node::{cfs_path, ClusterRuntime, Node};

/// Bytes of events kept (older ones are dropped).
pub const CLUSTER_LOG_KEEP_BYTES: u64 = 512 * 1024;
/// How often each node looks for events to log (the heartbeat interval: liveness
/// changes no faster; each scan reads the Raft status, N members at 128 nodes).
pub const EVENT_SCAN_INTERVAL: Duration = Duration::from_secs(1);
/// Events kept locally while the node cannot write (no quorum).
const PENDING_MAX: usize = 1000;

/// One line of the cluster log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    /// Wall-clock seconds (display only).
    pub time: u64,
    /// The node that saw the event.
    pub node: String,
    /// joined, removed, dead, alive, quorum-lost, quorum-regained, leader, clock-alarm, clock-ok,
    /// storage-failed, storage-recovered.
    pub kind: String,
    pub msg: String,
}

/// How many events `GET /cluster/log` answers unless asked otherwise.
pub const CLUSTER_LOG_DEFAULT_MAX: usize = 50;

/// The events of a cluster log text (one JSON object a line; others skipped), the newest
/// `max` of them (all with 0), oldest first.
pub fn log_tail(text: &str, max: usize) -> Vec<brigade_api::cluster::ClusterLogEntry> {
    let all: Vec<LogEvent> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let skip = if max == 0 {
        0
    } else {
        all.len().saturating_sub(max)
    };
    all.into_iter()
        .skip(skip)
        .map(|e| brigade_api::cluster::ClusterLogEntry {
            time: e.time,
            node: e.node,
            kind: e.kind,
            msg: e.msg,
        })
        .collect()
}

impl Node {
    /// The newest `max` events of the cluster log (all with 0), oldest first.
    pub fn cluster_log(
        &self,
        max: usize,
    ) -> Result<Vec<brigade_api::cluster::ClusterLogEntry>, crate::error::NodeError> {
        let rt = self.require_cluster()?;
        match rt.cfs.read(&cfs_path(layout::CLUSTER_LOG)?) {
            Ok(f) => Ok(log_tail(&String::from_utf8_lossy(&f.data), max)),
            Err(CfsError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Records an event now (or, without quorum, as soon as the node has it again).
    pub async fn log_event(&self, kind: &str, msg: String) {
        let ev = LogEvent {
            time: brigade_core::unix_now_secs(),
            node: self.config.name.to_string(),
            kind: kind.to_string(),
            msg,
        };
        tracing::info!(kind = %ev.kind, "{}", ev.msg);
        let mut pending = self.pending_events.lock().await;
        if pending.len() >= PENDING_MAX {
            pending.remove(0);
        }
        pending.push(ev);
        if let Some(rt) = self.cluster() {
            flush(rt, &mut pending).await;
        }
    }

    /// Watches this node's view for events worth logging.
    pub(crate) fn spawn_event_watcher(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        let node = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVENT_SCAN_INTERVAL);
            let started = std::time::Instant::now();
            let mut was_quorate = false;
            let mut lost_at: Option<u64> = None;
            let mut was_leader = false;
            let mut liveness = crate::liveness_log::LivenessLog::default();
            let mut storage_failed: Option<String> = None;
            let mut clock: BTreeMap<u64, String> = BTreeMap::new();
            loop {
                tick.tick().await;
                let quorate = rt.cfs.is_quorate();
                if was_quorate && !quorate {
                    lost_at = Some(brigade_core::unix_now_secs());
                    node.log_event(
                        "quorum-lost",
                        format!(
                            "{} lost quorum: configuration is read-only here",
                            node.config.name
                        ),
                    )
                    .await;
                } else if !was_quorate && quorate {
                    if let Some(t) = lost_at.take() {
                        let secs = brigade_core::unix_now_secs().saturating_sub(t);
                        node.log_event(
                            "quorum-regained",
                            format!("{} is quorate again after {secs} s", node.config.name),
                        )
                        .await;
                    }
                }
                was_quorate = quorate;
                let status = rt.cfs.status();
                let leader = status.leader == Some(rt.membership.node_id);
                if leader && !was_leader {
                    node.log_event(
                        "leader",
                        format!("{} is the leader (term {})", node.config.name, status.term),
                    )
                    .await;
                }
                was_leader = leader;
                node.log_storage_change(&mut storage_failed, status.storage_error)
                    .await;
                // Liveness and clocks are logged by the leader only (one line per event).
                let settled = started.elapsed() >= rt.members.node_timeout();
                // Only the leader reads the whole view (N entries): at 128 nodes the
                // others would build it four times a second for nothing.
                let peers = if leader && settled {
                    rt.members.status()
                } else {
                    Vec::new()
                };
                let timeout = rt.members.node_timeout().as_secs();
                for ev in liveness.scan(leader && settled, &peers, timeout) {
                    node.log_event(ev.kind, ev.msg).await;
                }
                if !leader || !settled {
                    continue;
                }
                for m in peers.into_iter().filter(|m| !m.local) {
                    let before = clock.insert(m.id, m.clock.clone());
                    if before.as_deref() != Some(m.clock.as_str()) {
                        let off = m.clock_offset_ms.unwrap_or(0.0) / 1000.0;
                        match m.clock.as_str() {
                            "alarm" => {
                                node.log_event(
                                    "clock-alarm",
                                    format!(
                                        "clock of {} is off by {off:+.1} s (over 10 s)",
                                        m.name
                                    ),
                                )
                                .await;
                            }
                            "warning" => {
                                node.log_event(
                                    "clock-warning",
                                    format!("clock of {} is off by {off:+.1} s (over 1 s)", m.name),
                                )
                                .await;
                            }
                            _ if before.is_some() => {
                                node.log_event(
                                    "clock-ok",
                                    format!("clock of {} is back in sync", m.name),
                                )
                                .await;
                            }
                            _ => {}
                        }
                    }
                }
            }
        });
    }
}

impl Node {
    /// Logs a storage failure of this node and its recovery (queued while not quorate).
    async fn log_storage_change(&self, was: &mut Option<String>, now: Option<String>) {
        match (was.as_ref(), now.as_ref()) {
            (None, Some(msg)) => {
                self.log_event(
                    "storage-failed",
                    format!(
                        "{}: storage failed: {msg}; Raft is stopped here and writes are refused until the stores are writable again",
                        self.config.name
                    ),
                )
                .await;
            }
            (Some(_), None) => {
                self.log_event(
                    "storage-recovered",
                    format!(
                        "{}: storage writable again: stores reopened, Raft restarted",
                        self.config.name
                    ),
                )
                .await;
            }
            _ => {}
        }
        *was = now;
    }
}

async fn flush(rt: &ClusterRuntime, pending: &mut Vec<LogEvent>) {
    if !rt.cfs.is_quorate() || pending.is_empty() {
        return;
    }
    let Ok(path) = cfs_path(layout::CLUSTER_LOG) else {
        return;
    };
    let ops: Vec<Op> = pending
        .iter()
        .filter_map(|ev| serde_json::to_string(ev).ok())
        .map(|line| Op::AppendLine {
            path: path.clone(),
            line,
            keep_bytes: CLUSTER_LOG_KEEP_BYTES,
        })
        .collect();
    match rt.cfs.propose(Op::Batch { ops }).await {
        Ok(_) => pending.clear(),
        Err(CfsError::NotQuorate | CfsError::NoLeader) => {}
        Err(e) => tracing::warn!("cannot write the cluster log: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_tail_is_the_newest_events_oldest_first_skipping_bad_lines() {
        let line = |t: u64, kind: &str| {
            serde_json::to_string(&LogEvent {
                time: t,
                node: "n1".into(),
                kind: kind.into(),
                msg: format!("event {t}"),
            })
            .expect("json")
        };
        let text = [
            line(1, "joined"),
            "not json".into(),
            line(2, "dead"),
            line(3, "alive"),
        ]
        .join("\n");
        let times = |max| {
            log_tail(&text, max)
                .iter()
                .map(|e| e.time)
                .collect::<Vec<_>>()
        };
        assert_eq!(times(0), [1, 2, 3]);
        assert_eq!(times(2), [2, 3]);
        assert_eq!(times(10), [1, 2, 3]);
        let last = log_tail(&text, 1);
        assert_eq!(
            (
                last[0].node.as_str(),
                last[0].kind.as_str(),
                last[0].msg.as_str()
            ),
            ("n1", "alive", "event 3")
        );
        assert!(log_tail("", 5).is_empty());
    }
}
