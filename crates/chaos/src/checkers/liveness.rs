//! Liveness after heal: within a stated time after the last fault healed, every node
//! is back and quorate under one leader, every HA guest in state `started` runs exactly
//! once (where HA says it runs), no guest config is left locked, and every node holds
//! the same tree.

use serde::{Deserialize, Serialize};

use crate::checkers::Verdict;
use crate::history::{secs, Micros};

pub const CHECKER: &str = "liveness after heal";

/// One node as the settling loop saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeView {
    pub name: String,
    pub answers: bool,
    pub quorate: bool,
    pub leader: Option<String>,
    /// A digest of its tree (the workload's files and the guest configs).
    pub tree: Option<String>,
}

/// One HA service as HA reports it, and where its guest really runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceView {
    pub sid: String,
    pub state: String,
    pub node: String,
    /// Nodes with a live process of the guest.
    pub running_on: Vec<String>,
}

/// A snapshot of the cluster after the heal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub nodes: Vec<NodeView>,
    pub services: Vec<ServiceView>,
    /// Guest configs with a lock: (vmid, lock).
    pub locked: Vec<(u32, String)>,
}

/// What keeps this snapshot from being settled (empty: settled).
pub fn problems(s: &Snapshot) -> Vec<String> {
    let mut p = Vec::new();
    for n in &s.nodes {
        if !n.answers {
            p.push(format!("{} does not answer", n.name));
        } else if !n.quorate {
            p.push(format!("{} is not quorate", n.name));
        }
    }
    let mut leaders: Vec<&str> = s.nodes.iter().filter_map(|n| n.leader.as_deref()).collect();
    leaders.sort_unstable();
    leaders.dedup();
    if leaders.len() != 1 {
        p.push(format!(
            "the nodes name {} leaders: {leaders:?}",
            leaders.len()
        ));
    }
    let mut trees: Vec<&str> = s.nodes.iter().filter_map(|n| n.tree.as_deref()).collect();
    trees.sort_unstable();
    trees.dedup();
    if trees.len() > 1 {
        p.push(format!("the nodes hold {} different trees", trees.len()));
    }
    for sv in &s.services {
        if sv.state != "started" {
            p.push(format!("{} is {} (not started)", sv.sid, sv.state));
        } else if sv.running_on != [sv.node.clone()] {
            p.push(format!(
                "{} should run on {} and runs on {:?}",
                sv.sid, sv.node, sv.running_on
            ));
        }
    }
    for (vmid, lock) in &s.locked {
        p.push(format!("guest {vmid} is left locked ({lock})"));
    }
    p
}

/// How settling went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settling {
    /// When the last fault was healed.
    pub healed_at: Micros,
    /// The stated bound.
    pub limit_s: u64,
    /// How long after the heal every condition first held (None: not within the bound).
    pub settled_after: Option<Micros>,
    /// What still failed when the bound ran out.
    pub remaining: Vec<String>,
}

pub fn check(s: &Settling) -> Verdict {
    match s.settled_after {
        Some(t) => Verdict::pass(
            CHECKER,
            format!(
                "settled {:.1} s after the last heal (bound {} s): every node quorate under one leader, every HA guest running once, nothing locked, one tree",
                secs(t),
                s.limit_s
            ),
        ),
        None => Verdict::fail(
            CHECKER,
            format!(
                "not settled within {} s of the last heal: {}",
                s.limit_s,
                s.remaining.first().cloned().unwrap_or_default()
            ),
            s.remaining.clone(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeView {
        NodeView {
            name: name.into(),
            answers: true,
            quorate: true,
            leader: Some("n1".into()),
            tree: Some("t".into()),
        }
    }

    #[test]
    fn a_settled_cluster_has_no_problems() {
        let s = Snapshot {
            nodes: vec![node("n1"), node("n2")],
            services: vec![ServiceView {
                sid: "vm:100".into(),
                state: "started".into(),
                node: "n2".into(),
                running_on: vec!["n2".into()],
            }],
            locked: vec![],
        };
        assert!(problems(&s).is_empty(), "{:?}", problems(&s));
    }

    #[test]
    fn each_unsettled_condition_is_named() {
        let mut n2 = node("n2");
        n2.quorate = false;
        n2.tree = Some("other".into());
        let s = Snapshot {
            nodes: vec![node("n1"), n2],
            services: vec![ServiceView {
                sid: "vm:100".into(),
                state: "started".into(),
                node: "n2".into(),
                running_on: vec!["n1".into(), "n2".into()],
            }],
            locked: vec![(100, "migrate".into())],
        };
        let p = problems(&s);
        assert_eq!(p.len(), 4, "{p:?}");
        let v = check(&Settling {
            healed_at: 0,
            limit_s: 120,
            settled_after: None,
            remaining: p,
        });
        assert!(
            !v.passed && v.summary.contains("n2 is not quorate"),
            "{v:?}"
        );
    }
}
