//! No crash but the injected ones: every daemon exit is one the schedule caused, and no
//! process of the cluster panicked (the daemons' logs, which their watchdog helpers
//! and guests' supervisors share, say so in Rust's words).

use serde::{Deserialize, Serialize};

use crate::checkers::Verdict;
use crate::history::{secs, Micros};

pub const CHECKER: &str = "no crash but the injected ones";
/// Lines of log kept after a panic's first line.
const PANIC_CONTEXT: usize = 4;

/// A daemon that exited while the schedule expected it to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnexpectedExit {
    pub node: String,
    pub at: Micros,
    pub status: String,
    /// The end of its log.
    pub log_tail: Vec<String>,
}

/// Panics in one log: each with a few lines after it.
pub fn panics(log: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = log.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.contains("panicked at") {
            let end = (i + 1 + PANIC_CONTEXT).min(lines.len());
            out.push(lines[i..end].iter().map(|s| s.to_string()).collect());
        }
    }
    out
}

/// The verdict over the nodes' logs (name, text) and the exits nobody injected.
pub fn check(logs: &[(String, String)], exits: &[UnexpectedExit]) -> Verdict {
    let mut problems = Vec::new();
    for (node, text) in logs {
        for p in panics(text) {
            problems.push(format!("{node} panicked:"));
            problems.extend(p.into_iter().map(|l| format!("  {l}")));
        }
    }
    for e in exits {
        problems.push(format!(
            "{}'s daemon exited at {:.3} s ({}) though no fault stopped it:",
            e.node,
            secs(e.at),
            e.status
        ));
        problems.extend(e.log_tail.iter().map(|l| format!("  {l}")));
    }
    let what = format!("{} daemon logs", logs.len());
    if problems.is_empty() {
        Verdict::pass(
            CHECKER,
            format!("{what}: no panic, no exit the schedule did not cause"),
        )
    } else {
        Verdict::fail(CHECKER, format!("{what}: {}", problems[0]), problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_log_fails() {
        let log =
            "INFO node running\nthread 'tokio-runtime-worker' panicked at crates/x.rs:1:2:\nboom\n";
        let v = check(&[("n2".into(), log.into())], &[]);
        assert!(!v.passed);
        assert!(v.excerpt.iter().any(|l| l.contains("boom")), "{v:?}");
        assert!(check(&[("n2".into(), "INFO fine\n".into())], &[]).passed);
    }

    #[test]
    fn an_exit_nobody_caused_fails() {
        let e = UnexpectedExit {
            node: "n1".into(),
            at: 3_000_000,
            status: "exit status: 1".into(),
            log_tail: vec!["error: oops".into()],
        };
        let v = check(&[], &[e]);
        assert!(
            !v.passed && v.summary.contains("n1's daemon exited"),
            "{v:?}"
        );
    }
}
