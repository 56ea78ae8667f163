//! Formats between running members: every node announces its formats and release to
//! each member over the internal RPC (`POST /node/format`, answered with the peer's own),
//! keeps what it heard for `cluster status`, stops when the tree's active format leaves
//! its range, and raises the active format when every member speaks a higher one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brigade_api::cluster::{ClusterFormat, FormatAnnouncement, FormatUpgradeResult, MemberFormat};
use brigade_api::ErrorBody;
use brigade_cfs::MemberInfo;
use brigade_cfs::Op;

use super::record::{read_active, ACTIVE_FORMAT_TREE_PATH};
use super::{
    highest_common, mixed_versions, next_format, release, supported, unannounced_members,
    FormatRange, UNANNOUNCED_FORMAT,
};
use crate::error::NodeError;
use crate::node::{cfs_path, ClusterRuntime, Node};

/// How often a node announces its formats to every member and reads the active one.
pub const FORMAT_PROBE_INTERVAL: Duration = Duration::from_secs(3);
/// How long what a member said stays fresh: it is asked again only after this (a member
/// that restarts announces itself to everyone at once, so a change is heard within
/// [`FORMAT_PROBE_INTERVAL`]). Keeps the all-to-all exchange from growing as N² per probe.
pub const FORMAT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// How long one announcement may take.
pub const FORMAT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The internal route of announcements.
pub const FORMAT_ROUTE: &str = "/node/format";

/// What a member said of its formats.
#[derive(Debug, Clone)]
enum Heard {
    Announced(FormatAnnouncement),
    /// It has no announcement route: a build from before format announcements.
    Unannounced,
}

impl Heard {
    fn range(&self) -> FormatRange {
        match self {
            Heard::Announced(a) => FormatRange {
                min: a.min_format,
                max: a.max_format,
            },
            Heard::Unannounced => FormatRange::single(UNANNOUNCED_FORMAT),
        }
    }
}

/// What this node last heard from each member, and when.
#[derive(Default)]
pub struct FormatTable(Mutex<HashMap<String, (Heard, Instant)>>);

impl FormatTable {
    fn note(&self, name: &str, heard: Heard) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), (heard, Instant::now()));
    }

    fn get(&self, name: &str) -> Option<(Heard, Instant)> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }
}

impl Node {
    /// This node's announcement.
    pub(crate) fn format_announcement(&self) -> FormatAnnouncement {
        let own = supported();
        let active = self
            .cluster()
            .and_then(|rt| read_active(&rt.cfs).ok())
            .map(|a| a.format)
            .or_else(|| self.recorded_active_format().ok())
            .unwrap_or(UNANNOUNCED_FORMAT);
        FormatAnnouncement {
            node: self.config.name.to_string(),
            release: release(),
            min_format: own.min,
            max_format: own.max,
            active_format: active,
        }
    }

    /// A member's announcement: noted, answered with this node's.
    pub(crate) fn receive_format_announcement(
        &self,
        theirs: FormatAnnouncement,
    ) -> FormatAnnouncement {
        let name = theirs.node.clone();
        self.formats.note(&name, Heard::Announced(theirs));
        self.format_announcement()
    }

    /// Announces to `member` and notes its answer (None: it did not answer).
    async fn exchange_formats(&self, rt: &ClusterRuntime, member: &MemberInfo) -> Option<Heard> {
        let sent = rt
            .rpc_client
            .post(format!("https://{}{FORMAT_ROUTE}", member.rpc_addr))
            .timeout(FORMAT_PROBE_TIMEOUT)
            .json(&self.format_announcement())
            .send()
            .await
            .ok()?;
        let heard = if sent.status() == reqwest::StatusCode::NOT_FOUND {
            Heard::Unannounced
        } else {
            let answer: Result<FormatAnnouncement, ErrorBody> = sent.json().await.ok()?;
            Heard::Announced(answer.ok()?)
        };
        self.formats.note(&member.name, heard.clone());
        Some(heard)
    }

    /// Announces to every member each [`FORMAT_PROBE_INTERVAL`]; records the tree's
    /// active format, and stops the node if it leaves this node's formats.
    pub(crate) fn spawn_format_watch(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        let node = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FORMAT_PROBE_INTERVAL);
            loop {
                tick.tick().await;
                let Some(node) = node.upgrade() else { return };
                if let Ok(active) = read_active(&rt.cfs) {
                    if let Err(e) = node.record_active_format(active.format) {
                        tracing::warn!("cannot record the active format: {e}");
                    }
                    if let Err(mut e) = super::check_start(
                        node.config.name.as_str(),
                        &release(),
                        supported(),
                        active.format,
                    ) {
                        e.outcome = super::decide::STOPPED_RUNNING;
                        tracing::error!("{e}");
                        node.refuse(e.to_string());
                        return;
                    }
                }
                let members = rt.cfs.status().members;
                let others = members.iter().filter(|m| {
                    m.name != node.config.name.as_str()
                        && node
                            .formats
                            .get(&m.name)
                            .is_none_or(|(_, at)| at.elapsed() >= FORMAT_REFRESH_INTERVAL)
                });
                futures::future::join_all(others.map(|m| node.exchange_formats(&rt, m))).await;
            }
        });
    }

    /// Stops taking part: the daemon shuts down with `why`.
    pub(crate) fn refuse(&self, why: String) {
        self.refused.send_replace(Some(why));
    }

    /// The active format and what each Raft member speaks, as last heard.
    pub(crate) fn cluster_format(&self, rt: &ClusterRuntime) -> ClusterFormat {
        let active = read_active(&rt.cfs)
            .map(|a| a.format)
            .unwrap_or(UNANNOUNCED_FORMAT);
        let me = self.config.name.as_str();
        let mut ranges = Vec::new();
        let members = rt
            .cfs
            .status()
            .members
            .into_iter()
            .map(|m| {
                let local = m.name == me;
                let heard = if local {
                    Some((Heard::Announced(self.format_announcement()), Instant::now()))
                } else {
                    self.formats.get(&m.name)
                };
                ranges.push((m.name.clone(), heard.as_ref().map(|(h, _)| h.range())));
                let range = heard.as_ref().map(|(h, _)| h.range());
                MemberFormat {
                    state: match &heard {
                        Some((Heard::Announced(_), _)) => "announced",
                        Some((Heard::Unannounced, _)) => "unannounced",
                        None => "unknown",
                    }
                    .into(),
                    release: match &heard {
                        Some((Heard::Announced(a), _)) => Some(a.release.clone()),
                        _ => None,
                    },
                    min_format: range.map(|r| r.min),
                    max_format: range.map(|r| r.max),
                    age_secs: heard.map(|(_, at)| at.elapsed().as_secs()),
                    local,
                    name: m.name,
                }
            })
            .collect();
        ClusterFormat {
            active,
            highest_common: highest_common(&ranges).map(|r| r.max),
            members,
        }
    }

    /// Raises the cluster's active format to the highest every member speaks, each
    /// member asked now (every one must answer).
    pub async fn upgrade_format(self: &Arc<Self>) -> Result<FormatUpgradeResult, NodeError> {
        let rt = self.require_cluster()?.clone();
        let active = read_active(&rt.cfs)?;
        let members = rt.cfs.status().members;
        let heard = futures::future::join_all(members.iter().map(|m| {
            let rt = rt.clone();
            async move {
                if m.name == self.config.name.as_str() {
                    return (m.name.clone(), Some(supported()));
                }
                let heard = self.exchange_formats(&rt, m).await;
                (m.name.clone(), heard.map(|h| h.range()))
            }
        }))
        .await;
        let next =
            next_format(active.format, &heard).map_err(|e| NodeError::Conflict(e.to_string()))?;
        rt.cfs
            .propose(Op::Write {
                path: cfs_path(ACTIVE_FORMAT_TREE_PATH)?,
                data: format!("{next}\n").into_bytes(),
                expect_version: Some(active.file_version),
                create_exclusive: false,
            })
            .await?;
        self.record_active_format(next)?;
        tracing::info!(
            previous = active.format,
            active = next,
            "cluster format raised"
        );
        Ok(FormatUpgradeResult {
            previous: active.format,
            active: next,
        })
    }
}

/// The warnings of `cluster status` about formats: mixed releases, builds that do not
/// announce, members that do not speak the active format.
#[must_use]
pub fn format_warnings(f: &ClusterFormat) -> Vec<String> {
    let mut out = Vec::new();
    let releases: Vec<(String, String)> = f
        .members
        .iter()
        .filter_map(|m| Some((m.name.clone(), m.release.clone()?)))
        .collect();
    out.extend(mixed_versions(&releases));
    let unannounced: Vec<String> = f
        .members
        .iter()
        .filter(|m| m.state == "unannounced")
        .map(|m| m.name.clone())
        .collect();
    out.extend(unannounced_members(&unannounced));
    for m in &f.members {
        if let (Some(min), Some(max)) = (m.min_format, m.max_format) {
            if !(min..=max).contains(&f.active) {
                out.push(format!(
                    "{} does not speak the active format version {} (it speaks {}): install {} on it",
                    m.name,
                    f.active,
                    FormatRange { min, max },
                    super::release_for(f.active)
                ));
            }
        }
    }
    out
}
