//! The recorded history: every client operation with its start, end and outcome, on
//! one clock (microseconds since the run began).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Microseconds since the run began.
pub type Micros = u64;

/// How the error of a compare-and-swap that lost (the version had moved on) begins: it
/// was evaluated against the state, unlike a refusal (no quorum), which tells nothing.
pub const MISMATCH: &str = "version mismatch";

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Acknowledged: it happened.
    Ok,
    /// Refused with an error that says it did not happen (not quorate, version mismatch).
    Failed,
    /// The answer was lost (a timeout, a connection that died): it may have happened.
    Unknown,
}

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OpKind {
    /// A consistent (read-index) read of a register.
    Read { key: String },
    /// A blind write of a register.
    Write { key: String, value: String },
    /// A compare-and-swap of a register on the version its value was read with
    /// (`from` None: the file must not exist).
    Cas {
        key: String,
        from: Option<String>,
        to: String,
    },
    /// A compare-and-swap that adds `element` at the end of a list file.
    Append { key: String, element: String },
    /// A consistent read of a list file.
    ListRead { key: String },
    /// Creation of a guest config (not started).
    GuestCreate { vmid: u32, node: String },
    /// Removal of a guest config.
    GuestDestroy { vmid: u32 },
    /// `ha migrate SID TARGET`.
    HaMigrate { sid: String, target: String },
    /// `vm migrate VMID TARGET --online`, followed to its end.
    LiveMigrate { vmid: u32, target: String },
    /// `vm start VMID` of a non-HA guest found stopped.
    GuestStart { vmid: u32 },
}

impl OpKind {
    /// A short name for counting.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Read { .. } => "read",
            OpKind::Write { .. } => "write",
            OpKind::Cas { .. } => "cas",
            OpKind::Append { .. } => "append",
            OpKind::ListRead { .. } => "list-read",
            OpKind::GuestCreate { .. } => "guest-create",
            OpKind::GuestDestroy { .. } => "guest-destroy",
            OpKind::HaMigrate { .. } => "ha-migrate",
            OpKind::LiveMigrate { .. } => "live-migrate",
            OpKind::GuestStart { .. } => "guest-start",
        }
    }

    /// Whether an acknowledgement of this operation is a write acknowledged by cfs.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            OpKind::Write { .. } | OpKind::Cas { .. } | OpKind::Append { .. }
        )
    }
}

/// What a read returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Observed {
    /// A register's value (None: the file does not exist).
    Register(Option<String>),
    /// A list's elements in order.
    List(Vec<String>),
}

/// One operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The client (a process in Jepsen's terms) that ran it.
    pub client: usize,
    /// The node the client talked to.
    pub node: String,
    #[serde(flatten)]
    pub kind: OpKind,
    pub start: Micros,
    pub end: Micros,
    pub outcome: Outcome,
    /// What a read returned (only for acknowledged reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    /// The error, for failed and unknown operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An operation begun and not yet ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pending(u64);

#[derive(Default)]
struct Ops {
    done: Vec<Op>,
    pending: std::collections::BTreeMap<u64, Op>,
    next: u64,
}

/// The clock of a run and the operations recorded so far.
#[derive(Clone)]
pub struct History {
    origin: Instant,
    ops: Arc<Mutex<Ops>>,
}

impl History {
    pub fn new(origin: Instant) -> Self {
        History {
            origin,
            ops: Arc::new(Mutex::new(Ops::default())),
        }
    }

    /// The instant time zero stands for.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// Now on the run's clock.
    pub fn now(&self) -> Micros {
        self.at(Instant::now())
    }

    /// `t` on the run's clock (0 before the run began).
    pub fn at(&self, t: Instant) -> Micros {
        t.saturating_duration_since(self.origin).as_micros() as Micros
    }

    fn lock(&self) -> MutexGuard<'_, Ops> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an operation that has ended.
    pub fn record(&self, op: Op) {
        self.lock().done.push(op);
    }

    /// Records an operation starting now; until [`History::end`] it counts as unknown.
    pub fn begin(&self, client: usize, node: &str, kind: OpKind) -> Pending {
        let start = self.now();
        let mut ops = self.lock();
        let id = ops.next;
        ops.next += 1;
        ops.pending.insert(
            id,
            Op {
                client,
                node: node.to_string(),
                kind,
                start,
                end: start,
                outcome: Outcome::Unknown,
                observed: None,
                error: Some("still running when the run ended".into()),
            },
        );
        Pending(id)
    }

    /// Ends a begun operation.
    pub fn end(
        &self,
        p: Pending,
        outcome: Outcome,
        observed: Option<Observed>,
        error: Option<String>,
    ) {
        let end = self.now();
        let mut ops = self.lock();
        if let Some(mut op) = ops.pending.remove(&p.0) {
            op.end = end;
            op.outcome = outcome;
            op.observed = observed;
            op.error = error;
            ops.done.push(op);
        }
    }

    /// Every operation so far: those ended, in the order they ended, then those still
    /// running (as unknown).
    pub fn ops(&self) -> Vec<Op> {
        let now = self.now();
        let ops = self.lock();
        let mut all = ops.done.clone();
        all.extend(ops.pending.values().cloned().map(|mut o| {
            o.end = now;
            o
        }));
        all
    }
}

/// Seconds, for reports.
pub fn secs(t: Micros) -> f64 {
    t as f64 / 1e6
}

/// A duration on the run's clock.
pub fn micros(d: Duration) -> Micros {
    d.as_micros() as Micros
}

#[cfg(test)]
pub(crate) mod build {
    //! Hand-written histories for the checkers' tests.
    use super::*;

    pub fn op(client: usize, kind: OpKind, start: u64, end: u64, outcome: Outcome) -> Op {
        Op {
            client,
            node: format!("n{}", client + 1),
            kind,
            start: start * 1000,
            end: end * 1000,
            outcome,
            observed: None,
            error: None,
        }
    }

    pub fn write(client: usize, key: &str, value: &str, start: u64, end: u64) -> Op {
        let kind = OpKind::Write {
            key: key.into(),
            value: value.into(),
        };
        op(client, kind, start, end, Outcome::Ok)
    }

    pub fn read(client: usize, key: &str, got: Option<&str>, start: u64, end: u64) -> Op {
        let mut o = op(
            client,
            OpKind::Read { key: key.into() },
            start,
            end,
            Outcome::Ok,
        );
        o.observed = Some(Observed::Register(got.map(str::to_string)));
        o
    }
}
