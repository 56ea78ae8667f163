//! This node's lease in practice: renewals through Raft (each one a promise of what the
//! node kills and when), the fence guard, the watchdog feed, the helper's supervision,
//! and the deadline carried over a daemon restart.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use brigade_cfs::{CfsError, Op};
use brigade_guest::RunDir;
use brigade_ha::lease::Lease;
use brigade_ha::{LrmStatus, ServiceId, Timing};

use super::clock::boot_ms;
use super::watchdog::{self, Feed, HelperStart};
use crate::error::NodeError;
use crate::node::{cfs_path, ClusterRuntime, Node};

/// How often the fence guard checks the lease (independent of slow renewals).
pub const FENCE_GUARD_INTERVAL: Duration = Duration::from_millis(100);
/// How often it looks while there is no lease (nothing covered): a lease's first
/// deadline is at least a fence timeout away, far more than this.
pub const FENCE_GUARD_IDLE_INTERVAL: Duration = Duration::from_millis(500);
/// How often the daemon checks that its watchdog helper is alive.
pub const HELPER_CHECK_INTERVAL: Duration = Duration::from_millis(1000);
/// How long killed guests may take to exit before they are reported stuck.
pub const FENCE_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes the fence set (VMIDs) the guard and the helper kill.
fn write_fence_set(
    run: &RunDir,
    set: &BTreeSet<ServiceId>,
) -> Result<(), brigade_guest::GuestError> {
    let ids: String = set.iter().map(|s| format!("{}\n", s.vmid)).collect();
    RunDir::write_atomic(&run.ha_vmids(), &ids)
}

/// The fence set a restarted daemon inherits: what the last run wrote.
fn read_fence_set(run: &RunDir, kinds: impl Fn(u32) -> Option<ServiceId>) -> BTreeSet<ServiceId> {
    watchdog::fence_set(run)
        .into_iter()
        .filter_map(kinds)
        .collect()
}

impl Node {
    /// After a restart: the deadline the previous run fed the helper still stands.
    pub(super) fn restore_lease(&self) {
        let run = &self.guests.run;
        let feed = std::fs::read_to_string(run.watchdog_feed())
            .ok()
            .and_then(|s| Feed::parse(&s));
        let Some(Feed::Armed { seq, deadline_ms }) = feed else {
            return;
        };
        let running = self.local_states();
        let covers = read_fence_set(run, |vmid| {
            let g = running.iter().find(|g| g.vmid == vmid)?;
            Some(ServiceId {
                kind: g.kind,
                vmid: brigade_core::VmId::try_from(vmid).ok()?,
            })
        });
        self.ha.lrm(|l| {
            l.lease = Lease::restore(deadline_ms, covers);
            l.feed_seq = seq;
        });
        tracing::info!(
            remaining_ms = deadline_ms.saturating_sub(boot_ms()),
            "HA: the previous run's lease deadline stands until a renewal commits"
        );
    }

    /// Keeps the watchdog helper running: started at once, restarted if it dies.
    pub(super) fn supervise_helper(self: &Arc<Self>) {
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                let device = node.config.watchdog_device();
                let ok = match watchdog::ensure_running(&node.guests.run, device.as_ref()) {
                    Ok(HelperStart::AlreadyRunning) => true,
                    Ok(HelperStart::Started { pid }) => {
                        let was_ok = node.ha.lrm(|l| l.helper_ok);
                        if was_ok {
                            node.log_event(
                                "ha",
                                format!(
                                    "{}: the watchdog helper had died; restarted it (pid {pid})",
                                    node.config.name
                                ),
                            )
                            .await;
                        }
                        // Hand the new helper the deadline at once.
                        node.feed_watchdog();
                        true
                    }
                    Err(e) => {
                        tracing::warn!("cannot start the watchdog helper: {e}; HA guests will not be started here");
                        false
                    }
                };
                node.ha.lrm(|l| l.helper_ok = ok);
                tokio::time::sleep(HELPER_CHECK_INTERVAL).await;
            }
        });
    }

    /// The fence guard: the moment the lease's deadline passes, the covered guests die,
    /// however long a renewal or a command takes.
    pub(super) fn spawn_fence_guard(self: &Arc<Self>) {
        let guard = self.clone();
        tokio::spawn(async move {
            // The lapsed deadline whose fence was reported. The watchdog helper polls
            // more often than the guard and often kills the guests first; the node
            // still says, once, that it fenced itself.
            let mut reported: Option<u64> = None;
            loop {
                let leased = guard.ha.lrm(|l| l.lease.deadline_ms().is_some());
                tokio::time::sleep(if leased {
                    FENCE_GUARD_INTERVAL
                } else {
                    FENCE_GUARD_IDLE_INTERVAL
                })
                .await;
                let (lapsed, deadline, covered) = guard.ha.lrm(|l| {
                    (
                        l.lease.lapsed(boot_ms()),
                        l.lease.deadline_ms(),
                        !l.lease.covers().is_empty(),
                    )
                });
                if !lapsed {
                    continue;
                }
                let t = guard.ha.lrm(|l| l.timing);
                if guard.self_fence(t).await {
                    reported = deadline;
                } else if covered && reported != deadline {
                    reported = deadline;
                    guard
                        .log_event(
                            "ha-fence",
                            format!(
                                "{}: no lease renewal committed within {} ms: self-fenced (the watchdog helper killed its HA guests)",
                                guard.config.name, t.fence_timeout_ms
                            ),
                        )
                        .await;
                }
            }
        });
    }

    /// The lease lapsed: kill this node's covered guests at once, and say so. Whether
    /// it killed any.
    pub(super) async fn self_fence(&self, t: Timing) -> bool {
        let (killed, stuck) =
            watchdog::kill_ha_guests_and_wait(&self.guests.run, FENCE_EXIT_TIMEOUT).await;
        // The lease stays lapsed until a renewal commits: the guard and the helper
        // keep killing what it covered (a start under way when the daemon stalled too).
        if !killed.is_empty() {
            self.log_event(
                "ha-fence",
                format!(
                    "{}: no lease renewal committed within {} ms: self-fenced, killed HA guests {killed:?}",
                    self.config.name, t.fence_timeout_ms
                ),
            )
            .await;
        }
        if !stuck.is_empty() {
            self.log_event(
                "ha-fence",
                format!(
                    "{}: HA guests {stuck:?} did not exit after SIGKILL (stuck in I/O?): they are still counted as running here",
                    self.config.name
                ),
            )
            .await;
        }
        !killed.is_empty()
    }

    /// Whether this node's lease holds now (a renewal is known to have committed and
    /// its deadline has not passed).
    pub(crate) fn lease_valid(&self) -> bool {
        self.ha.lrm(|l| l.lease.valid(boot_ms()))
    }

    /// Whether HA guests may be started here at this instant: lease, quorum, helper.
    pub(crate) fn may_start_ha(&self, rt: &ClusterRuntime) -> Result<(), NodeError> {
        let (valid, helper) = self.ha.lrm(|l| (l.lease.valid(boot_ms()), l.helper_ok));
        if !valid {
            return Err(NodeError::Unavailable(
                "this node's HA lease is not valid".into(),
            ));
        }
        if !helper {
            return Err(NodeError::Unavailable(
                "the watchdog helper is not running on this node".into(),
            ));
        }
        if let Some(d) = self.config.watchdog_device() {
            let fence = self.ha.lrm(|l| l.timing.fence_timeout_ms);
            if d.timeout.as_millis() as u64 >= fence {
                return Err(NodeError::Unavailable(format!(
                    "the watchdog device {} has a timeout of {} s, not shorter than fence_timeout ({fence} ms): set watchdog_device_timeout or fence_timeout",
                    d.path.display(),
                    d.timeout.as_secs()
                )));
            }
        }
        if !rt.cfs.is_quorate() {
            return Err(CfsError::NotQuorate.into());
        }
        Ok(())
    }

    /// Writes lrm_status: a lease renewal announcing its fence timeout and what it
    /// covers (`ha`). Returns the cluster version it committed at, if it is known to
    /// have committed. The fence set on disk never shrinks before a renewal saying so
    /// has committed.
    pub(crate) async fn renew_lease(
        &self,
        rt: &ClusterRuntime,
        t: Timing,
        ha: &BTreeSet<ServiceId>,
        running: &BTreeSet<ServiceId>,
    ) -> Option<u64> {
        let run = &self.guests.run;
        let promised: BTreeSet<ServiceId> = self.ha.lrm(|l| l.lease.covers().clone());
        let fence_set: BTreeSet<ServiceId> = ha.union(&promised).copied().collect();
        if let Err(e) = write_fence_set(run, &fence_set) {
            // Without the fence set on disk nothing could be promised.
            tracing::warn!("cannot write the fence set: {e}; not renewing the lease");
            return None;
        }
        let status = self.ha.lrm(|l| {
            l.seq += 1;
            LrmStatus {
                mode: l.mode,
                seq: l.seq,
                results: l.results.clone(),
                fence_timeout_ms: Some(t.fence_timeout_ms),
                covers: ha.clone(),
                running: running.clone(),
            }
        });
        let path = cfs_path(&format!("nodes/{}/lrm_status", self.config.name)).ok()?;
        let data = serde_json::to_vec(&status).ok()?;
        let sent = boot_ms();
        let write = rt.cfs.propose(Op::Write {
            path,
            data,
            expect_version: None,
            create_exclusive: false,
        });
        // A renewal slower than this is not waited for; it may still commit, so it
        // counts as uncertain (the deadline can only come closer).
        let limit = Duration::from_millis(t.renew_ms.max(500));
        let outcome = match tokio::time::timeout(limit, write).await {
            Ok(r) => r,
            Err(_) => Err(CfsError::Timeout {
                secs: limit.as_secs(),
            }),
        };
        let committed = match outcome {
            Ok(applied) => {
                self.ha
                    .lrm(|l| l.lease.committed(sent, t.fence_timeout_ms, ha.clone()));
                let _ = write_fence_set(run, ha);
                Some(applied.version)
            }
            // Refused before anything was proposed: nothing can commit.
            Err(CfsError::NotQuorate) => None,
            Err(e) => {
                tracing::debug!("lease renewal of unknown outcome: {e}");
                self.ha
                    .lrm(|l| l.lease.uncertain(sent, t.fence_timeout_ms, ha));
                None
            }
        };
        self.feed_watchdog();
        committed
    }

    /// Tells the watchdog helper the lease's deadline (or to stand down without one).
    pub(crate) fn feed_watchdog(&self) {
        let feed = self.ha.lrm(|l| {
            l.feed_seq += 1;
            match l.lease.deadline_ms() {
                Some(deadline_ms) => Feed::Armed {
                    seq: l.feed_seq,
                    deadline_ms,
                },
                None => Feed::Disarmed { seq: l.feed_seq },
            }
        });
        if let Err(e) = RunDir::write_atomic(&self.guests.run.watchdog_feed(), &feed.to_line()) {
            tracing::warn!("cannot feed the watchdog: {e}");
        }
    }

    /// Tells the helper to stand down: nothing is covered any more (a clean stop
    /// whose freeze or release the CRM has seen).
    pub(crate) fn disarm_watchdog(&self) {
        let feed = self.ha.lrm(|l| {
            l.feed_seq += 1;
            Feed::Disarmed { seq: l.feed_seq }
        });
        if let Err(e) = RunDir::write_atomic(&self.guests.run.watchdog_feed(), &feed.to_line()) {
            tracing::warn!("cannot disarm the watchdog: {e}");
        }
    }
}
