//! Damaged stores: a node whose store files were damaged while it was down refuses to
//! start, saying what happened and what to do, and comes back once wiped (delnode,
//! join); if the damage hit nothing it uses it may start, and the tree it then serves
//! is checked with everyone else's by the liveness checker.

use serde::{Deserialize, Serialize};

use crate::checkers::Verdict;

pub const CHECKER: &str = "damaged stores refused";

/// What happened to a node whose store files were damaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorruptionOutcome {
    pub node: String,
    pub damage: String,
    /// It refused to start; else it started (the damage hit nothing it uses).
    pub refused: bool,
    /// When it did not refuse: its API answered (a node that neither refuses nor
    /// answers hangs on its damaged files).
    #[serde(default)]
    pub answered: bool,
    /// Its last words.
    pub message: String,
    /// The refusal said what happened and what to do.
    pub clear: bool,
    /// It was wiped and joined again.
    pub rejoined: bool,
}

pub fn check(outcomes: &[CorruptionOutcome]) -> Verdict {
    let mut problems = Vec::new();
    for o in outcomes {
        if o.refused && !o.clear {
            problems.push(format!(
                "{} refused to start without saying why and what to do ({}): {}",
                o.node, o.damage, o.message
            ));
        }
        if !o.refused && !o.answered {
            problems.push(format!(
                "{} neither refused to start nor answered ({}): {}",
                o.node, o.damage, o.message
            ));
        }
        if o.refused && !o.rejoined {
            problems.push(format!(
                "{} did not come back after its wipe ({})",
                o.node, o.damage
            ));
        }
    }
    let refused = outcomes.iter().filter(|o| o.refused).count();
    let what = format!(
        "{} damaged stores: {refused} refused and rejoined wiped, {} started (damage in unused pages)",
        outcomes.len(),
        outcomes.len() - refused
    );
    if problems.is_empty() {
        Verdict::pass(CHECKER, what)
    } else {
        Verdict::fail(CHECKER, format!("{what}: {}", problems[0]), problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unclear_refusal_fails() {
        let mut o = CorruptionOutcome {
            node: "n2".into(),
            damage: "log.redb: a page".into(),
            refused: true,
            answered: false,
            message: "error: cannot start the node: storage error: oops".into(),
            clear: false,
            rejoined: true,
        };
        assert!(!check(std::slice::from_ref(&o)).passed);
        o.clear = true;
        assert!(check(&[o]).passed);
    }

    #[test]
    fn a_node_that_neither_refuses_nor_answers_fails() {
        let mut o = CorruptionOutcome {
            node: "n1".into(),
            damage: "state.redb: a record".into(),
            refused: false,
            answered: false,
            message: String::new(),
            clear: false,
            rejoined: false,
        };
        let v = check(std::slice::from_ref(&o));
        assert!(!v.passed);
        assert!(v.summary.contains("nor answered"), "{v:?}");
        o.answered = true;
        assert!(check(&[o]).passed);
    }
}
