//! Guest configs created and removed under faults: each VMID of the workload belongs to
//! one client, so its operations are sequential; its final state must be one that its
//! operations allow (an acknowledged create exists unless a later removal may have
//! happened, an acknowledged removal is gone unless a later create may have happened),
//! and no VMID has a config on two nodes.

use std::collections::{BTreeMap, BTreeSet};

use crate::checkers::{describe, Verdict};
use crate::history::{Op, OpKind, Outcome};

pub const CHECKER: &str = "guest configs";

/// Whether the config may exist after `ops` (in order), and may be absent.
fn possible(ops: &[&Op]) -> (bool, bool) {
    let (mut exists, mut absent) = (false, true);
    for op in ops {
        match (&op.kind, op.outcome) {
            (OpKind::GuestCreate { .. }, Outcome::Ok) => (exists, absent) = (true, false),
            (OpKind::GuestCreate { .. }, Outcome::Unknown) => exists = true,
            (OpKind::GuestDestroy { .. }, Outcome::Ok) => (exists, absent) = (false, true),
            (OpKind::GuestDestroy { .. }, Outcome::Unknown) => absent = true,
            _ => {}
        }
    }
    (exists, absent)
}

/// The verdict, given where each VMID's config is at the end (node names).
pub fn check(history: &[Op], finals: &BTreeMap<u32, Vec<String>>) -> Verdict {
    let mut by_vmid: BTreeMap<u32, Vec<&Op>> = BTreeMap::new();
    for op in history {
        match &op.kind {
            OpKind::GuestCreate { vmid, .. } | OpKind::GuestDestroy { vmid } => {
                by_vmid.entry(*vmid).or_default().push(op);
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    for (vmid, nodes) in finals {
        let distinct: BTreeSet<&String> = nodes.iter().collect();
        if nodes.len() > 1 {
            problems.push(format!(
                "VMID {vmid} has configs on {} nodes: {distinct:?}",
                nodes.len()
            ));
        }
    }
    let mut acked = 0;
    for (vmid, ops) in &by_vmid {
        acked += ops.iter().filter(|o| o.outcome == Outcome::Ok).count();
        let (may_exist, may_be_absent) = possible(ops);
        let exists = finals.get(vmid).is_some_and(|n| !n.is_empty());
        let bad = if exists {
            (!may_exist).then_some("exists, though its operations say it cannot")
        } else {
            (!may_be_absent).then_some("is missing, though an acknowledged create says it exists")
        };
        if let Some(why) = bad {
            problems.push(format!("guest {vmid} {why}:"));
            let from = ops.len().saturating_sub(4);
            problems.extend(ops[from..].iter().map(|o| format!("  {}", describe(o))));
        }
    }
    let what = format!(
        "{} VMIDs, {acked} acknowledged creates and removals",
        by_vmid.len()
    );
    if problems.is_empty() {
        Verdict::pass(CHECKER, format!("{what}: final configs as acknowledged"))
    } else {
        Verdict::fail(CHECKER, format!("{what}: {}", problems[0]), problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::build::op;

    fn create(s: u64, outcome: Outcome) -> Op {
        let kind = OpKind::GuestCreate {
            vmid: 300,
            node: "n1".into(),
        };
        op(0, kind, s, s + 1, outcome)
    }

    fn destroy(s: u64, outcome: Outcome) -> Op {
        op(0, OpKind::GuestDestroy { vmid: 300 }, s, s + 1, outcome)
    }

    fn at(nodes: &[&str]) -> BTreeMap<u32, Vec<String>> {
        BTreeMap::from([(300, nodes.iter().map(|s| s.to_string()).collect())])
    }

    #[test]
    fn acknowledged_operations_decide_the_end_state() {
        let h = vec![create(0, Outcome::Ok)];
        assert!(check(&h, &at(&["n1"])).passed);
        assert!(!check(&h, &at(&[])).passed, "a lost create");
        let h = vec![create(0, Outcome::Ok), destroy(2, Outcome::Ok)];
        assert!(check(&h, &at(&[])).passed);
        assert!(!check(&h, &at(&["n1"])).passed, "a removal undone");
        let h = vec![create(0, Outcome::Ok), destroy(2, Outcome::Unknown)];
        assert!(check(&h, &at(&[])).passed && check(&h, &at(&["n1"])).passed);
        let h = vec![create(0, Outcome::Failed)];
        assert!(!check(&h, &at(&["n1"])).passed, "a failed create happened");
    }

    #[test]
    fn a_vmid_on_two_nodes_fails() {
        let h = vec![create(0, Outcome::Ok)];
        assert!(!check(&h, &at(&["n1", "n2"])).passed);
    }
}
