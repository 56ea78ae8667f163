//! No action without quorum: no guest process started on a node while that node could
//! not have been quorate.
//!
//! When it could not is known exactly from the faults injected: a node is certainly
//! without quorum while no node it can reach (itself included) reaches a majority of
//! the votes, counted from one quorum lease (plus a margin) after the cut, since a
//! quorum lease outlives the contact it was granted on by at most a lease. Process
//! starts come from the sampler (their start time from /proc); the cluster log's
//! recoveries and starts are written through Raft, so only a quorate node can write
//! them, and the HA lease rules are checked by the never-twice witnesses.

use serde::{Deserialize, Serialize};

use crate::checkers::never_twice::ProcessLife;
use crate::checkers::Verdict;
use crate::history::{secs, Micros};

pub const CHECKER: &str = "no action without quorum";

/// An interval in which `node` cannot have been quorate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinorityWindow {
    pub node: String,
    pub from: Micros,
    pub to: Micros,
    /// The fault that caused it.
    pub fault: String,
}

/// Which nodes are certainly without quorum, given who reaches whom: a node is, if no
/// node in reach of it (itself included) that may lead reaches a majority of the
/// `votes`. The first `leaders` rows are the nodes; a qdevice after them votes and is
/// reachable unless cut, but never leads (openraft `enable_elect = false`), so a node
/// that reaches only the qdevice is not quorate through it.
pub fn certain_minority(reach: &[Vec<bool>], votes: usize, leaders: usize) -> Vec<bool> {
    let majority = votes / 2 + 1;
    let n = reach.len();
    let degree: Vec<usize> = (0..n)
        .map(|i| (0..n).filter(|&j| i == j || reach[i][j]).count())
        .collect();
    (0..n)
        .map(|i| !(0..leaders.min(n)).any(|j| (i == j || reach[i][j]) && degree[j] >= majority))
        .collect()
}

/// The verdict: every guest process start outside the windows of its node.
pub fn check(lives: &[ProcessLife], windows: &[MinorityWindow]) -> Verdict {
    let mut problems = Vec::new();
    for l in lives {
        for w in windows {
            if w.node == l.node && w.from <= l.start && l.start <= w.to {
                problems.push(format!(
                    "{} {} started on {} at {:.3} s, while {} could not be quorate ({:.3} s to {:.3} s: {})",
                    if l.vm { "VM" } else { "container" },
                    l.vmid,
                    l.node,
                    secs(l.start),
                    w.node,
                    secs(w.from),
                    secs(w.to),
                    w.fault
                ));
            }
        }
    }
    let total: Micros = windows.iter().map(|w| w.to.saturating_sub(w.from)).sum();
    let what = format!(
        "{} guest starts against {} windows without quorum ({:.0} s in all)",
        lives.len(),
        windows.len(),
        secs(total)
    );
    if problems.is_empty() {
        Verdict::pass(CHECKER, format!("{what}: none inside"))
    } else {
        Verdict::fail(CHECKER, format!("{what}: {}", problems[0]), problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(n: usize) -> Vec<Vec<bool>> {
        vec![vec![true; n]; n]
    }

    fn cut(reach: &mut [Vec<bool>], a: &[usize], b: &[usize]) {
        for &i in a {
            for &j in b {
                reach[i][j] = false;
                reach[j][i] = false;
            }
        }
    }

    #[test]
    fn the_minority_side_of_a_split_is_certain_the_bridge_is_not() {
        let mut r = full(5);
        cut(&mut r, &[0, 1], &[2, 3, 4]);
        assert_eq!(
            certain_minority(&r, 5, 5),
            vec![true, true, false, false, false]
        );
        let mut r = full(5);
        cut(&mut r, &[0, 1], &[3, 4]);
        assert_eq!(certain_minority(&r, 5, 5), vec![false; 5]);
        let mut r = full(3);
        cut(&mut r, &[2], &[0, 1]);
        assert_eq!(certain_minority(&r, 3, 3), vec![false, false, true]);
    }

    #[test]
    fn a_node_that_reaches_only_the_qdevice_is_certain() {
        // Four nodes and a qdevice (row 4): n1 cut from every node still reaches the
        // qdevice, which reaches a majority but never leads.
        let mut r = full(5);
        cut(&mut r, &[0], &[1, 2, 3]);
        assert_eq!(
            certain_minority(&r, 5, 4),
            vec![true, false, false, false, false]
        );
        // Two against two: the qdevice may give either side its vote.
        let mut r = full(5);
        cut(&mut r, &[0, 1], &[2, 3]);
        assert_eq!(certain_minority(&r, 5, 4), vec![false; 5]);
    }

    #[test]
    fn a_start_inside_a_window_fails() {
        let life = ProcessLife {
            vmid: 100,
            vm: true,
            node: "n3".into(),
            pid: 1,
            start: 5_000_000,
            last_seen: 9_000_000,
        };
        let w = MinorityWindow {
            node: "n3".into(),
            from: 4_000_000,
            to: 8_000_000,
            fault: "partition n3 | n1 n2".into(),
        };
        let v = check(std::slice::from_ref(&life), std::slice::from_ref(&w));
        assert!(!v.passed);
        assert!(v.summary.contains("VM 100 started on n3"), "{v:?}");
        let elsewhere = ProcessLife {
            node: "n1".into(),
            ..life
        };
        assert!(check(&[elsewhere], &[w]).passed);
    }
}
