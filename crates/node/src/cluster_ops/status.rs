//! The node list and the cluster status, with the warnings they carry (quorum, links).

use brigade_core::cluster_conf::ClusterConf;

use crate::error::NodeError;
use crate::node::Node;
use brigade_api::cluster::*;

use super::read_cluster_conf;

/// Why the node is not quorate, and what an even number of voters risks.
pub fn quorum_warnings(
    cfs: &brigade_cfs::CfsStatus,
    conf: Option<&ClusterConf>,
    members: &[brigade_membership::PeerStatus],
) -> Vec<String> {
    let mut out = Vec::new();
    let voters: Vec<u64> = cfs
        .members
        .iter()
        .filter(|m| m.voter)
        .map(|m| m.id)
        .collect();
    let has_qdevice = conf.is_some_and(|c| c.qdevice.is_some());
    let present = voters
        .iter()
        .filter(|v| members.iter().any(|m| m.id == **v && m.alive))
        .count();
    let needed = voters.len() / 2 + 1;
    if let Some(e) = &cfs.storage_error {
        out.push(format!(
            "not quorate: this node's storage failed ({e}); Raft is stopped here, the configuration is read-only on this node and its reads may be stale, until the stores are writable again (it recovers by itself)"
        ));
        return out;
    }
    if !cfs.quorate && !voters.is_empty() {
        let mut line = format!(
            "not quorate: {present} of {} votes present, {needed} needed; the configuration is read-only and nothing is started or recovered",
            voters.len()
        );
        if voters.len() == 2 && !has_qdevice {
            line.push_str(
                "; a two-node cluster cannot lose either node without a tie-breaker: add one with 'brigade cluster qdevice setup ADDR'",
            );
        }
        out.push(line);
    }
    if voters.len() % 2 == 0 && !voters.is_empty() && !has_qdevice {
        out.push(format!(
            "even number of voters ({}) and no qdevice: losing half of them stops the whole cluster; add one with 'brigade cluster qdevice setup ADDR'",
            voters.len()
        ));
    }
    out
}

/// Warnings derived from the heartbeat view.
pub fn warnings(members: &[brigade_membership::PeerStatus]) -> Vec<String> {
    let mut out = Vec::new();
    for m in members.iter().filter(|m| !m.local) {
        if !m.alive {
            out.push(format!("node {} is dead: no heartbeat on any link", m.name));
            continue;
        }
        for l in m.links.iter().filter(|l| l.address.is_some() && !l.up) {
            out.push(format!("link{} to {} is down", l.link, m.name));
        }
        if let Some(off) = m.clock_offset_ms {
            match m.clock.as_str() {
                "alarm" => out.push(format!(
                    "clock ALARM: {} is off by {:+.1} s (over 10 s)",
                    m.name,
                    off / 1000.0
                )),
                "warning" => out.push(format!(
                    "clock warning: {} is off by {:+.1} s (over 1 s)",
                    m.name,
                    off / 1000.0
                )),
                _ => {}
            }
        }
    }
    out
}

impl Node {
    /// `cluster nodes`.
    pub fn nodes(&self) -> Result<Vec<NodeRow>, NodeError> {
        let rt = self.require_cluster()?;
        let conf = read_cluster_conf(&rt.cfs)?;
        let status = rt.cfs.status();
        Ok(conf
            .nodes
            .iter()
            .map(|n| {
                let m = status.members.iter().find(|m| m.id == n.nodeid);
                NodeRow {
                    name: n.name.to_string(),
                    nodeid: n.nodeid,
                    votes: if m.is_some_and(|m| m.voter) {
                        n.votes
                    } else {
                        0
                    },
                    address: n.link0.to_string(),
                    role: match m {
                        Some(m) if m.voter => "voter".into(),
                        Some(_) => "learner".into(),
                        None => "joining".into(),
                    },
                    leader: status.leader == Some(n.nodeid),
                    local: n.name == self.config.name,
                    matched_index: m.and_then(|m| m.matched),
                }
            })
            .collect())
    }

    /// `cluster status`.
    pub fn status(&self) -> ClusterStatus {
        let node = self.config.name.to_string();
        let Some(rt) = self.cluster() else {
            return ClusterStatus {
                node,
                cluster: None,
                node_id: None,
                quorate: false,
                cfs: None,
                config: None,
                members: Vec::new(),
                heartbeats: brigade_api::membership::DropCounters::default(),
                warnings: Vec::new(),
                format: None,
            };
        };
        let cfs = rt.cfs.status();
        let config = read_cluster_conf(&rt.cfs).ok();
        let members = rt.members.status();
        let mut all_warnings = quorum_warnings(&cfs, config.as_ref(), &members);
        all_warnings.extend(warnings(&members));
        let format = self.cluster_format(rt);
        all_warnings.extend(crate::format_version::format_warnings(&format));
        ClusterStatus {
            node,
            cluster: Some(rt.membership.cluster.clone()),
            node_id: Some(rt.membership.node_id),
            quorate: cfs.quorate,
            cfs: Some(cfs),
            config,
            members,
            heartbeats: rt.members.counters(),
            warnings: all_warnings,
            format: Some(format),
        }
    }
}
