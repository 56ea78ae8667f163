//! The checkers: each reads what the run recorded and returns a verdict, with the
//! part of the history that breaks its property when it fails.

pub mod append;
pub mod configs;
pub mod corruption;
pub mod crashes;
pub mod linearizable;
pub mod liveness;
pub mod never_twice;
pub mod quorum;
pub mod register;

use serde::{Deserialize, Serialize};

use crate::history::{secs, Micros, Observed, Op, OpKind, Outcome};

/// How many lines of history a failed verdict shows at most.
pub const EXCERPT_LINES: usize = 40;

/// One checker's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub checker: String,
    pub passed: bool,
    /// One line: what was checked and how it went.
    pub summary: String,
    /// On failure, the offending history excerpt (one line each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excerpt: Vec<String>,
}

impl Verdict {
    pub fn pass(checker: &str, summary: String) -> Self {
        Verdict {
            checker: checker.into(),
            passed: true,
            summary,
            excerpt: Vec::new(),
        }
    }

    pub fn fail(checker: &str, summary: String, mut excerpt: Vec<String>) -> Self {
        if excerpt.len() > EXCERPT_LINES {
            let more = excerpt.len() - EXCERPT_LINES;
            excerpt.truncate(EXCERPT_LINES);
            excerpt.push(format!("... and {more} more"));
        }
        Verdict {
            checker: checker.into(),
            passed: false,
            summary,
            excerpt,
        }
    }
}

/// `[12.345 s → 12.400 s]` (an unknown end is `?`).
pub fn span(start: Micros, end: Micros, outcome: Outcome) -> String {
    match outcome {
        Outcome::Unknown => format!("[{:.3} s → ?]", secs(start)),
        _ => format!("[{:.3} s → {:.3} s]", secs(start), secs(end)),
    }
}

fn value(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(none)")
}

/// One operation as a history line.
pub fn describe(op: &Op) -> String {
    let what = match &op.kind {
        OpKind::Read { key } => format!("read {key}"),
        OpKind::Write { key, value } => format!("write {key} := {value}"),
        OpKind::Cas { key, from, to } => format!("cas {key} {} -> {to}", value(from)),
        OpKind::Append { key, element } => format!("append {key} += {element}"),
        OpKind::ListRead { key } => format!("read list {key}"),
        OpKind::GuestCreate { vmid, node } => format!("create guest {vmid} on {node}"),
        OpKind::GuestDestroy { vmid } => format!("destroy guest {vmid}"),
        OpKind::HaMigrate { sid, target } => format!("ha migrate {sid} {target}"),
        OpKind::LiveMigrate { vmid, target } => format!("migrate {vmid} {target} --online"),
        OpKind::GuestStart { vmid } => format!("start guest {vmid}"),
    };
    let result = match (&op.outcome, &op.observed) {
        (Outcome::Ok, Some(Observed::Register(v))) => format!("ok: {}", value(v)),
        (Outcome::Ok, Some(Observed::List(l))) => format!("ok: {} elements", l.len()),
        (Outcome::Ok, None) => "ok".to_string(),
        (Outcome::Failed, _) => format!("failed: {}", op.error.as_deref().unwrap_or("")),
        (Outcome::Unknown, _) => format!("unknown: {}", op.error.as_deref().unwrap_or("")),
    };
    format!(
        "{} client {} via {}: {what}: {result}",
        span(op.start, op.end, op.outcome),
        op.client,
        op.node
    )
}

/// The operations overlapping [from, to], as history lines, in start order.
pub fn around(ops: &[&Op], from: Micros, to: Micros) -> Vec<String> {
    let mut near: Vec<&&Op> = ops
        .iter()
        .filter(|o| {
            let end = if o.outcome == Outcome::Unknown {
                Micros::MAX
            } else {
                o.end
            };
            o.start <= to && end >= from
        })
        .collect();
    near.sort_by_key(|o| o.start);
    near.into_iter().map(|o| describe(o)).collect()
}
