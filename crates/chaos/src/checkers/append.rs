//! No lost acknowledged append, in an order consistent with acknowledgements: every
//! append acknowledged is in the list's final state exactly once; an append that
//! finished before another began comes first; nothing reported as failed is there;
//! every list read is a prefix of the final list (lists only grow at their end) and
//! holds every append acknowledged before the read began.

use std::collections::{BTreeMap, HashMap};

use crate::checkers::{describe, Verdict};
use crate::history::{Observed, Op, OpKind, Outcome};

pub const CHECKER: &str = "no lost appends";

fn appends<'a>(history: &'a [Op], key: &str) -> Vec<&'a Op> {
    history
        .iter()
        .filter(|o| matches!(&o.kind, OpKind::Append { key: k, .. } if k == key))
        .collect()
}

fn element(op: &Op) -> &str {
    match &op.kind {
        OpKind::Append { element, .. } => element,
        _ => "",
    }
}

fn check_list(key: &str, history: &[Op], list: &[String], problems: &mut Vec<String>) {
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (i, e) in list.iter().enumerate() {
        if position.insert(e.as_str(), i).is_some() {
            problems.push(format!("{key}: {e} is in the final list twice"));
        }
    }
    let ops = appends(history, key);
    // A client retries an element after a refusal: judge each element by all its attempts.
    let mut attempts: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in &ops {
        attempts.entry(element(op)).or_default().push(op);
    }
    for (e, tries) in &attempts {
        let present = position.contains_key(e);
        if let Some(op) = tries.iter().find(|o| o.outcome == Outcome::Ok) {
            if !present {
                problems.push(format!("{key}: acknowledged append lost: {}", describe(op)));
            }
        } else if present && tries.iter().all(|o| o.outcome == Outcome::Failed) {
            problems.push(format!(
                "{key}: an append reported as failed is in the list: {}",
                describe(tries[0])
            ));
        }
    }
    let mut acked: Vec<&&Op> = ops.iter().filter(|o| o.outcome == Outcome::Ok).collect();
    acked.sort_by_key(|o| o.end);
    // An append acknowledged before another began must come first. Checking each
    // against the latest-positioned append acknowledged before it began suffices.
    let mut by_start: Vec<&&Op> = acked.clone();
    by_start.sort_by_key(|o| o.start);
    let mut done = 0;
    let mut latest: Option<(&Op, usize)> = None;
    for b in by_start {
        while done < acked.len() && acked[done].end < b.start {
            let a = acked[done];
            if let Some(&p) = position.get(element(a)) {
                if latest.is_none_or(|(_, q)| p > q) {
                    latest = Some((a, p));
                }
            }
            done += 1;
        }
        if let (Some((a, pa)), Some(&pb)) = (latest, position.get(element(b))) {
            if pa > pb {
                problems.push(format!(
                    "{key}: {} was acknowledged before {} began but comes after it",
                    element(a),
                    element(b)
                ));
                problems.push(format!("  {}", describe(a)));
                problems.push(format!("  {}", describe(b)));
            }
        }
    }
    for read in history.iter().filter(|o| {
        o.outcome == Outcome::Ok && matches!(&o.kind, OpKind::ListRead { key: k } if k == key)
    }) {
        let Some(Observed::List(seen)) = &read.observed else {
            continue;
        };
        if seen.len() > list.len() || seen[..] != list[..seen.len()] {
            problems.push(format!(
                "{key}: a read is not a prefix of the final list: {}",
                describe(read)
            ));
            continue;
        }
        for a in acked.iter().filter(|a| a.end < read.start) {
            if !seen.iter().any(|e| e == element(a)) {
                problems.push(format!(
                    "{key}: a read misses an append acknowledged before it began ({}): {}",
                    describe(a),
                    describe(read)
                ));
            }
        }
    }
}

/// The verdict over every list, given each list's final state.
pub fn check(history: &[Op], finals: &BTreeMap<String, Vec<String>>) -> Verdict {
    let mut problems = Vec::new();
    let mut keys: Vec<&str> = history
        .iter()
        .filter_map(|o| match &o.kind {
            OpKind::Append { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let mut acked = 0;
    for key in &keys {
        acked += appends(history, key)
            .iter()
            .filter(|o| o.outcome == Outcome::Ok)
            .count();
        match finals.get(*key) {
            Some(list) => check_list(key, history, list, &mut problems),
            None => problems.push(format!("{key}: its final state could not be read")),
        }
    }
    let what = format!("{} lists, {acked} acknowledged appends", keys.len());
    if problems.is_empty() {
        Verdict::pass(
            CHECKER,
            format!("{what}: all present, once, in acknowledgement order"),
        )
    } else {
        let first = problems[0].clone();
        Verdict::fail(CHECKER, format!("{what}: {first}"), problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::build::op;

    fn append(c: usize, e: &str, s: u64, t: u64, outcome: Outcome) -> Op {
        let kind = OpKind::Append {
            key: "l".into(),
            element: e.into(),
        };
        op(c, kind, s, t, outcome)
    }

    fn finals(list: &[&str]) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([(
            "l".to_string(),
            list.iter().map(|s| s.to_string()).collect(),
        )])
    }

    #[test]
    fn every_acknowledged_append_in_order_passes() {
        let h = vec![
            append(0, "a", 0, 1, Outcome::Ok),
            append(1, "b", 2, 3, Outcome::Ok),
            append(2, "c", 2, 9, Outcome::Unknown),
            append(0, "d", 4, 5, Outcome::Failed),
        ];
        let v = check(&h, &finals(&["a", "b"]));
        assert!(v.passed, "{v:?}");
        assert!(check(&h, &finals(&["a", "b", "c"])).passed);
    }

    #[test]
    fn a_lost_write_fails() {
        let h = vec![
            append(0, "a", 0, 1, Outcome::Ok),
            append(1, "b", 2, 3, Outcome::Ok),
        ];
        let v = check(&h, &finals(&["a"]));
        assert!(!v.passed);
        assert!(v.summary.contains("acknowledged append lost"), "{v:?}");
        assert!(v.excerpt[0].contains("append l += b"), "{v:?}");
    }

    #[test]
    fn an_order_against_acknowledgements_fails() {
        let h = vec![
            append(0, "a", 0, 1, Outcome::Ok),
            append(1, "b", 2, 3, Outcome::Ok),
        ];
        assert!(!check(&h, &finals(&["b", "a"])).passed);
        // Concurrent appends may land in either order.
        let h = vec![
            append(0, "a", 0, 5, Outcome::Ok),
            append(1, "b", 1, 3, Outcome::Ok),
        ];
        assert!(check(&h, &finals(&["b", "a"])).passed);
    }

    #[test]
    fn duplicates_failed_appends_and_bad_reads_fail() {
        let h = vec![append(0, "a", 0, 1, Outcome::Ok)];
        assert!(!check(&h, &finals(&["a", "a"])).passed);
        let h = vec![append(0, "a", 0, 1, Outcome::Failed)];
        assert!(!check(&h, &finals(&["a"])).passed);
        let mut r = op(1, OpKind::ListRead { key: "l".into() }, 2, 3, Outcome::Ok);
        r.observed = Some(Observed::List(vec![]));
        let h = vec![append(0, "a", 0, 1, Outcome::Ok), r];
        let v = check(&h, &finals(&["a"]));
        assert!(!v.passed);
        assert!(v.summary.contains("misses"), "{v:?}");
    }
}
