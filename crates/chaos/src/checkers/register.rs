//! Linearizability of the compare-and-swap registers, one key at a time (a history is
//! linearizable iff each key's is: P-compositionality).
//!
//! Every written value is unique, and a file's version is never reused, so a
//! compare-and-swap on the version a value was read with succeeds exactly when the
//! register still holds that value: the model compares values. Operations refused
//! before they reached the state (no quorum) are dropped; a compare-and-swap that lost
//! on its version stays, as an observation that the register held something else.
//! Unknown operations return at infinity. Before the search, unknown writes whose value
//! nobody ever observed are dropped (placing them last, "never happened", is always
//! possible, so the rest passing implies the whole passes); only if that reduced
//! history fails is the full one searched, which decides.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::checkers::linearizable::{self, Linearizability, Model, Operation};
use crate::checkers::{around, describe, Verdict};
use crate::history::{Micros, Observed, Op, OpKind, Outcome, MISMATCH};

pub const CHECKER: &str = "linearizable registers";
/// Step budget of one key's search.
pub const MAX_STEPS: u64 = 40_000_000;
/// How far around the operation the search got stuck on the excerpt reaches.
const EXCERPT_WINDOW: Micros = 1_500_000;

#[derive(Debug, Clone)]
enum In {
    Read,
    Write(u32),
    Cas { from: u32, to: u32 },
}

#[derive(Debug, Clone)]
enum Out {
    Read(u32),
    Ok,
    Lost,
    Unknown,
}

/// A register of interned values (0: the file does not exist).
struct Register;

impl Model for Register {
    type State = u32;
    type Input = In;
    type Output = Out;
    fn init(&self) -> u32 {
        0
    }
    fn step(&self, s: &u32, i: &In, o: &Out) -> Option<u32> {
        match (i, o) {
            (In::Read, Out::Read(v)) => (s == v).then_some(*s),
            (In::Write(v), Out::Ok | Out::Unknown) => Some(*v),
            (In::Cas { from, to }, Out::Ok) => (s == from).then_some(*to),
            (In::Cas { from, .. }, Out::Lost) => (s != from).then_some(*s),
            (In::Cas { from, to }, Out::Unknown) => Some(if s == from { *to } else { *s }),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Interner(HashMap<String, u32>);

impl Interner {
    fn id(&mut self, v: &Option<String>) -> u32 {
        match v {
            None => 0,
            Some(s) => {
                let next = self.0.len() as u32 + 1;
                *self.0.entry(s.clone()).or_insert(next)
            }
        }
    }
}

/// What a register operation contributes to the search, if anything.
fn translate(op: &Op, names: &mut Interner) -> Option<Operation<In, Out>> {
    let ret = match op.outcome {
        Outcome::Unknown => u64::MAX,
        _ => op.end,
    };
    let (input, output) = match (&op.kind, op.outcome) {
        (OpKind::Read { .. }, Outcome::Ok) => match &op.observed {
            Some(Observed::Register(v)) => (In::Read, Out::Read(names.id(v))),
            _ => return None,
        },
        (OpKind::Write { value, .. }, Outcome::Ok | Outcome::Unknown) => (
            In::Write(names.id(&Some(value.clone()))),
            if op.outcome == Outcome::Ok {
                Out::Ok
            } else {
                Out::Unknown
            },
        ),
        (OpKind::Cas { from, to, .. }, outcome) => {
            let input = In::Cas {
                from: names.id(from),
                to: names.id(&Some(to.clone())),
            };
            let output = match outcome {
                Outcome::Ok => Out::Ok,
                Outcome::Unknown => Out::Unknown,
                Outcome::Failed if is_mismatch(op) => Out::Lost,
                Outcome::Failed => return None,
            };
            (input, output)
        }
        _ => return None,
    };
    Some(Operation {
        call: op.start,
        ret,
        input,
        output,
    })
}

fn is_mismatch(op: &Op) -> bool {
    op.error.as_deref().is_some_and(|e| e.starts_with(MISMATCH))
}

fn key_of(op: &Op) -> Option<&str> {
    match &op.kind {
        OpKind::Read { key } | OpKind::Write { key, .. } | OpKind::Cas { key, .. } => Some(key),
        _ => None,
    }
}

/// Values someone saw: read results and the values compare-and-swaps expected.
fn observed_values(ops: &[&Op]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for op in ops {
        match (&op.kind, &op.observed) {
            (OpKind::Read { .. }, Some(Observed::Register(Some(v))))
                if op.outcome == Outcome::Ok =>
            {
                seen.insert(v.clone());
            }
            (OpKind::Cas { from: Some(f), .. }, _) => {
                seen.insert(f.clone());
            }
            _ => {}
        }
    }
    seen
}

fn unobserved_unknown(op: &Op, seen: &BTreeSet<String>) -> bool {
    op.outcome == Outcome::Unknown
        && match &op.kind {
            OpKind::Write { value, .. } => !seen.contains(value),
            OpKind::Cas { to, .. } => !seen.contains(to),
            _ => false,
        }
}

/// A read of a value nobody wrote (or only an operation reported as failed wrote).
fn phantom_read(ops: &[&Op]) -> Option<(usize, Option<usize>)> {
    let mut written: HashMap<&str, (usize, Outcome)> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let v = match &op.kind {
            OpKind::Write { value, .. } => value.as_str(),
            OpKind::Cas { to, .. } => to.as_str(),
            _ => continue,
        };
        written.insert(v, (i, op.outcome));
    }
    for (i, op) in ops.iter().enumerate() {
        if let (OpKind::Read { .. }, Outcome::Ok, Some(Observed::Register(Some(v)))) =
            (&op.kind, op.outcome, &op.observed)
        {
            match written.get(v.as_str()) {
                None => return Some((i, None)),
                Some((w, Outcome::Failed)) => return Some((i, Some(*w))),
                Some(_) => {}
            }
        }
    }
    None
}

/// The search over these operations.
fn search(ops: &[&Op]) -> (Vec<usize>, Linearizability) {
    let mut names = Interner::default();
    let mut kept = Vec::new();
    let mut index = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(o) = translate(op, &mut names) {
            kept.push(o);
            index.push(i);
        }
    }
    let result = linearizable::check(&Register, &kept, MAX_STEPS);
    (index, result)
}

enum KeyResult {
    Ok,
    Bad(String, Vec<String>),
}

fn check_key(key: &str, ops: &[&Op]) -> KeyResult {
    if let Some((r, w)) = phantom_read(ops) {
        let what = match w {
            None => "a value no operation wrote".to_string(),
            Some(w) => format!(
                "a value written by an operation reported as failed ({})",
                describe(ops[w])
            ),
        };
        let read = ops[r];
        return KeyResult::Bad(
            format!("{key}: a read returned {what}"),
            around(ops, read.start.saturating_sub(EXCERPT_WINDOW), read.end),
        );
    }
    let seen = observed_values(ops);
    let reduced: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|o| !unobserved_unknown(o, &seen))
        .collect();
    let (_, first) = search(&reduced);
    if first == Linearizability::Linearizable {
        return KeyResult::Ok;
    }
    let (index, full) = search(ops);
    match full {
        Linearizability::Linearizable => KeyResult::Ok,
        Linearizability::Inconclusive { steps } => KeyResult::Bad(
            format!("{key}: no verdict within {steps} search steps"),
            Vec::new(),
        ),
        Linearizability::Violation { longest, stuck } => {
            let op = ops[index[stuck]];
            let end = if op.outcome == Outcome::Unknown {
                op.start
            } else {
                op.end
            };
            let mut lines = vec![format!(
                "{} operations could be ordered; none of the orders fits this one: {}",
                longest.len(),
                describe(op)
            )];
            lines.extend(around(
                ops,
                op.start.saturating_sub(EXCERPT_WINDOW),
                end + EXCERPT_WINDOW,
            ));
            KeyResult::Bad(format!("{key}: not linearizable"), lines)
        }
    }
}

/// The verdict over every register operation of the history.
pub fn check(history: &[Op]) -> Verdict {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in history {
        if let Some(k) = key_of(op) {
            by_key.entry(k).or_default().push(op);
        }
    }
    let total: usize = by_key.values().map(Vec::len).sum();
    let unknown = history
        .iter()
        .filter(|o| key_of(o).is_some() && o.outcome == Outcome::Unknown)
        .count();
    let mut failures = Vec::new();
    let mut excerpt = Vec::new();
    for (key, ops) in &by_key {
        if let KeyResult::Bad(summary, lines) = check_key(key, ops) {
            failures.push(summary);
            excerpt.extend(lines);
        }
    }
    let what = format!(
        "{} keys, {total} register operations ({unknown} of unknown outcome)",
        by_key.len()
    );
    if failures.is_empty() {
        Verdict::pass(CHECKER, format!("{what}: linearizable"))
    } else {
        Verdict::fail(CHECKER, format!("{what}: {}", failures.join("; ")), excerpt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::build::{op, read, write};

    fn cas(c: usize, from: Option<&str>, to: &str, s: u64, e: u64, outcome: Outcome) -> Op {
        let kind = OpKind::Cas {
            key: "r".into(),
            from: from.map(str::to_string),
            to: to.into(),
        };
        let mut o = op(c, kind, s, e, outcome);
        if outcome == Outcome::Failed {
            o.error = Some(format!("{MISMATCH}: expected 3, found 5"));
        }
        o
    }

    #[test]
    fn a_sequential_history_passes() {
        let h = vec![
            read(0, "r", None, 0, 1),
            write(0, "r", "a", 2, 3),
            read(1, "r", Some("a"), 4, 5),
            cas(1, Some("a"), "b", 6, 7, Outcome::Ok),
            cas(0, Some("a"), "c", 8, 9, Outcome::Failed),
            read(0, "r", Some("b"), 10, 11),
        ];
        let v = check(&h);
        assert!(v.passed, "{v:?}");
    }

    #[test]
    fn a_stale_read_fails_with_the_history_around_it() {
        let h = vec![
            write(0, "r", "a", 0, 1),
            write(0, "r", "b", 2, 3),
            read(1, "r", Some("a"), 4, 5),
        ];
        let v = check(&h);
        assert!(!v.passed);
        assert!(v.summary.contains("not linearizable"), "{v:?}");
        assert!(
            v.excerpt.iter().any(|l| l.contains("read r: ok: a")),
            "{v:?}"
        );
    }

    #[test]
    fn a_lost_acknowledged_write_fails() {
        // b was acknowledged, then a read long after sees the value before it.
        let h = vec![
            write(0, "r", "a", 0, 1),
            write(1, "r", "b", 2, 3),
            read(0, "r", Some("b"), 4, 5),
            read(2, "r", Some("a"), 6, 7),
        ];
        assert!(!check(&h).passed);
    }

    #[test]
    fn a_cas_that_lost_while_the_value_matched_fails() {
        let h = vec![
            write(0, "r", "a", 0, 1),
            cas(1, Some("a"), "b", 2, 3, Outcome::Failed),
            read(0, "r", Some("a"), 4, 5),
        ];
        assert!(!check(&h).passed);
    }

    #[test]
    fn unknown_writes_may_or_may_not_have_happened() {
        let mut h = vec![write(0, "r", "a", 0, 1)];
        for k in 0..30 {
            let mut w = write(1, "r", &format!("u{k}"), 2 + k, 3 + k);
            w.outcome = Outcome::Unknown;
            h.push(w);
        }
        h.push(read(2, "r", Some("a"), 100, 101));
        let mut late = write(1, "r", "v", 102, 103);
        late.outcome = Outcome::Unknown;
        h.push(late);
        h.push(read(2, "r", Some("v"), 200, 201));
        h.push(read(2, "r", Some("v"), 202, 203));
        let v = check(&h);
        assert!(v.passed, "{v:?}");
    }

    #[test]
    fn a_read_of_a_failed_write_fails() {
        let mut w = write(0, "r", "x", 0, 1);
        w.outcome = Outcome::Failed;
        let h = vec![w, read(1, "r", Some("x"), 2, 3)];
        let v = check(&h);
        assert!(!v.passed);
        assert!(v.summary.contains("reported as failed"), "{v:?}");
    }
}
