//! The usage sampler: every [`USAGE_SAMPLE_INTERVAL`], this node's CPU and memory and
//! those of the HA guests running here, from /proc; published in `nodes/<node>/usage`
//! for the CRS only when it changed enough to matter.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use brigade_cfs::Op;
use brigade_core::layout;
use brigade_ha::config::RequestState;
use brigade_ha::crs::{CrsMode, Live};
use brigade_ha::ServiceId;

use super::config_io;
use super::proc_usage::{self, CpuTimes};
use super::usage_report::{UsageReport, USAGE_FILE};
use crate::node::{cfs_path, ClusterRuntime, Node};

/// How often usage is sampled.
pub const USAGE_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// What the previous sample measured, to turn CPU ticks into a rate.
#[derive(Default)]
struct Previous {
    cpu: Option<CpuTimes>,
    /// Per guest: its session and that session's CPU ticks.
    guests: BTreeMap<ServiceId, (i32, u64)>,
    published: Option<UsageReport>,
}

impl Node {
    /// Starts the sampler (the CRS reads what it publishes).
    pub(super) fn spawn_usage_sampler(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        let node = self.clone();
        tokio::spawn(async move {
            let mut prev = Previous::default();
            loop {
                if let Some(report) = node.sample_usage(&rt, &mut prev) {
                    // Live usage is read by the dynamic CRS only: otherwise an idle node
                    // would write its fluctuating CPU every few seconds, and every
                    // member would apply and fsync every node's writes.
                    let dynamic = config_io::settings(&rt.cfs).crs.mode == CrsMode::Dynamic;
                    let publish = prev.published.as_ref().is_none_or(|old| {
                        if dynamic {
                            report.differs_much(old)
                        } else {
                            report.capacity_differs(old)
                        }
                    });
                    if publish && node.publish_usage(&rt, &report).await {
                        prev.published = Some(report);
                    }
                }
                tokio::time::sleep(USAGE_SAMPLE_INTERVAL).await;
            }
        });
    }

    fn sample_usage(&self, rt: &ClusterRuntime, prev: &mut Previous) -> Option<UsageReport> {
        let now = proc_usage::cpu_times()?;
        let (total_mib, available_mib) = proc_usage::memory_mib()?;
        let ha: BTreeSet<ServiceId> = config_io::resources(&rt.cfs)
            .map(|(r, _)| {
                r.resources
                    .values()
                    .filter(|x| x.state != RequestState::Ignored)
                    .map(|x| x.sid)
                    .collect()
            })
            .unwrap_or_default();
        // Every guest's session (its process tree), the HA ones reported one by one.
        let mut sessions: BTreeMap<ServiceId, i32> = BTreeMap::new();
        let mut all_sessions = BTreeSet::new();
        for g in brigade_guest::running_guests(&self.guests.run) {
            let Some(s) = proc_usage::session_of(g.pid) else {
                continue;
            };
            all_sessions.insert(s);
            if let Ok(vmid) = brigade_core::VmId::try_from(g.vmid) {
                let sid = ServiceId { kind: g.kind, vmid };
                if ha.contains(&sid) {
                    sessions.insert(sid, s);
                }
            }
        }
        let measured = proc_usage::sessions(&all_sessions);
        // Clock ticks per CPU since the last sample: the elapsed time in ticks.
        let elapsed = prev
            .cpu
            .map(|p| now.total.saturating_sub(p.total) as f64 / now.cpus as f64)
            .filter(|e| *e > 0.0);
        let mut guests = BTreeMap::new();
        let mut next = BTreeMap::new();
        for (sid, s) in &sessions {
            let Some((ticks, rss_kib)) = measured.get(s).copied() else {
                continue;
            };
            next.insert(*sid, (*s, ticks));
            let cpu = match (prev.guests.get(sid), elapsed) {
                (Some((ps, pt)), Some(e)) if ps == s => ticks.saturating_sub(*pt) as f64 / e,
                _ => 0.0,
            };
            guests.insert(
                *sid,
                Live {
                    cpu,
                    memory_mib: rss_kib / 1024,
                },
            );
        }
        let node_cpu = prev
            .cpu
            .map(|p| {
                let dt = now.total.saturating_sub(p.total).max(1) as f64;
                now.busy.saturating_sub(p.busy) as f64 / dt * now.cpus as f64
            })
            .unwrap_or(0.0);
        let first = prev.cpu.is_none();
        prev.cpu = Some(now);
        prev.guests = next;
        if first {
            // Rates need two samples.
            return None;
        }
        // With a guest memory budget the node's memory is that budget and its guests'
        // share of it (lab nodes share one machine); otherwise the machine's.
        let (memory_mib, used_mib) = match self.config.guest_memory_mib {
            Some(limit) => (
                limit.min(total_mib),
                measured.values().map(|(_, rss)| rss / 1024).sum(),
            ),
            None => (total_mib, total_mib.saturating_sub(available_mib)),
        };
        Some(UsageReport::new(
            now.cpus as f64,
            memory_mib,
            Live {
                cpu: node_cpu,
                memory_mib: used_mib,
            },
            guests,
        ))
    }

    /// Writes the report; whether it committed.
    async fn publish_usage(&self, rt: &ClusterRuntime, report: &UsageReport) -> bool {
        let path = format!("{}/{}/{USAGE_FILE}", layout::NODES_DIR, self.config.name);
        let (Ok(path), Ok(data)) = (cfs_path(&path), serde_json::to_vec(report)) else {
            return false;
        };
        let write = Op::Write {
            path,
            data,
            expect_version: None,
            create_exclusive: false,
        };
        match rt.cfs.propose(write).await {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!("usage not published: {e}");
                false
            }
        }
    }
}
