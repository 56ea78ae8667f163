//! A backup job's state per guest as kept in the replicated tree (pure): the last scheduled point done, the claim of a running one, recent runs, and what a node does with it now.
//!
//! Every node checks every job; only the node holding the guest's config acts on it. It reads
//! the guest's state (with its version), [`decide`]s, and writes the new state by
//! compare-and-swap before doing anything: of two nodes deciding on the same version only one
//! write lands, so a point is claimed once. A claim is renewed while its backup runs; a claim
//! not renewed for `stale_after` (its node died, or the guest moved away from it) is taken over
//! by the guest's node, which runs the point unless a snapshot made after the claim already
//! exists (the dead node finished but could not record it).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::CalendarEvent;
use crate::schedule::{due, Due};

/// Runs kept in a guest's state (newest last).
pub const HISTORY_KEEP: usize = 20;

/// Who is running which point since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The scheduled point (Unix seconds).
    pub point: i64,
    /// The node running it.
    pub node: String,
    /// When it was claimed, and last renewed (Unix seconds, the claiming node's clock).
    pub since: i64,
    pub renewed: i64,
}

/// One finished (or failed) run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The scheduled point (Unix seconds).
    pub point: i64,
    /// The node that ran it.
    pub node: String,
    pub ok: bool,
    /// Unix seconds when it started, and how long it took.
    pub started: i64,
    pub duration_secs: i64,
    /// The backup's volume id, when it made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volid: Option<String>,
    /// Bytes of the guest's disks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The task that ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upid: Option<String>,
}

/// A job's state for one guest (`jobs/state/<job>/<vmid>.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestJobState {
    /// The last point run or skipped, or when the guest was first seen by the job (Unix seconds).
    pub last: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    #[serde(default)]
    pub runs: Vec<RunRecord>,
}

/// What a node knows when it decides.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub event: &'a CalendarEvent,
    pub now: DateTime<Utc>,
    pub repeat_missed: bool,
    /// How late a point may still run without `repeat-missed`.
    pub slack: Duration,
    /// This node's name.
    pub me: &'a str,
    /// Whether this node is running the job for the guest right now.
    pub running_here: bool,
    /// How long an unrenewed claim holds.
    pub stale_after: Duration,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing to write; the next point, if any.
    Wait(Option<DateTime<Utc>>),
    /// A live claim (another node's, or this node's running backup).
    Busy(Claim),
    /// Write this state (first sight, a skipped missed point, a released claim); run nothing.
    Write(GuestJobState),
    /// Write this state (it claims `point` for this node), then run the point.
    Run {
        point: DateTime<Utc>,
        state: GuestJobState,
        /// The stale claim taken over, if any.
        took_over: Option<Claim>,
    },
}

fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn time(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).unwrap_or_default()
}

/// Decides for one job and guest given its state (`None`: never seen).
pub fn decide(state: Option<&GuestJobState>, cx: &Context<'_>) -> Action {
    let Some(state) = state else {
        return Action::Write(GuestJobState {
            last: secs(cx.now),
            ..GuestJobState::default()
        });
    };
    let mut took_over = None;
    if let Some(c) = &state.claim {
        let mine = c.node == cx.me;
        let fresh = cx.now - time(c.renewed) <= cx.stale_after;
        if (mine && cx.running_here) || (!mine && fresh) {
            return Action::Busy(c.clone());
        }
        took_over = Some(c.clone());
    }
    let mut next = state.clone();
    next.claim = None;
    let d = due(
        cx.event,
        &time(state.last),
        &cx.now,
        cx.repeat_missed,
        cx.slack,
    );
    // A taken-over point started in time: it runs however late the takeover is.
    let d = match (d, &took_over) {
        (Due::Skip(p), Some(c)) if secs(p) == c.point => Due::Run(p),
        (d, _) => d,
    };
    match d {
        Due::Run(p) => {
            next.claim = Some(Claim {
                point: secs(p),
                node: cx.me.to_string(),
                since: secs(cx.now),
                renewed: secs(cx.now),
            });
            Action::Run {
                point: p,
                state: next,
                took_over,
            }
        }
        Due::Skip(p) => {
            next.last = secs(p);
            Action::Write(next)
        }
        Due::Wait(_) if took_over.is_some() => Action::Write(next),
        Due::Wait(n) => Action::Wait(n),
    }
}

/// The state with this node's claim of `point` renewed at `now`; `None` when the claim is
/// no longer this node's (taken over).
pub fn renew(
    state: &GuestJobState,
    me: &str,
    point: i64,
    now: DateTime<Utc>,
) -> Option<GuestJobState> {
    let c = state.claim.as_ref()?;
    if c.node != me || c.point != point {
        return None;
    }
    let mut next = state.clone();
    if let Some(c) = next.claim.as_mut() {
        c.renewed = secs(now);
    }
    Some(next)
}

/// The state once `run` ended: its point done, the claim released when it is the run's, the
/// run recorded (bounded history).
pub fn finish(state: &GuestJobState, run: RunRecord) -> GuestJobState {
    let mut next = state.clone();
    next.last = next.last.max(run.point);
    if next.claim.as_ref().is_some_and(|c| c.point <= run.point) {
        next.claim = None;
    }
    next.runs.push(run);
    let extra = next.runs.len().saturating_sub(HISTORY_KEEP);
    next.runs.drain(..extra);
    next
}

/// Whether a snapshot taken at `snapshot` can only be the work of `claim` (made after it was
/// claimed): the taking-over node then records the point instead of running it again.
pub fn finished_by(claim: &Claim, snapshot: DateTime<Utc>) -> bool {
    secs(snapshot) >= claim.since
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("t")
            .with_timezone(&Utc)
    }

    fn cx<'a>(ev: &'a CalendarEvent, now: &str, me: &'a str, running_here: bool) -> Context<'a> {
        Context {
            event: ev,
            now: at(now),
            repeat_missed: false,
            slack: Duration::seconds(60),
            me,
            running_here,
            stale_after: Duration::seconds(120),
        }
    }

    fn record(point: i64, node: &str) -> RunRecord {
        RunRecord {
            point,
            node: node.into(),
            ok: true,
            started: point,
            duration_secs: 1,
            volid: None,
            size: None,
            error: None,
            upid: None,
        }
    }

    /// Applies the action as the runner does when its compare-and-swap lands.
    fn apply(state: &mut Option<GuestJobState>, a: &Action) -> Option<DateTime<Utc>> {
        match a {
            Action::Write(s) => {
                *state = Some(s.clone());
                None
            }
            Action::Run {
                point, state: s, ..
            } => {
                *state = Some(s.clone());
                Some(*point)
            }
            _ => None,
        }
    }

    #[test]
    fn first_sight_records_now_and_the_next_point_is_claimed_once() {
        let ev = CalendarEvent::parse("minutely").expect("ev");
        let mut st = None;
        let a = decide(st.as_ref(), &cx(&ev, "2026-12-01T10:00:10Z", "n1", false));
        apply(&mut st, &a);
        assert_eq!(
            st.as_ref().map(|s| s.last),
            Some(at("2026-12-01T10:00:10Z").timestamp())
        );
        assert!(matches!(
            decide(st.as_ref(), &cx(&ev, "2026-12-01T10:00:50Z", "n1", false)),
            Action::Wait(Some(t)) if t == at("2026-12-01T10:01:00Z")
        ));
        let a = decide(st.as_ref(), &cx(&ev, "2026-12-01T10:01:03Z", "n1", false));
        assert_eq!(apply(&mut st, &a), Some(at("2026-12-01T10:01:00Z")));
        // Claimed: the next check of the same node, while it runs, and any other node wait.
        assert!(matches!(
            decide(st.as_ref(), &cx(&ev, "2026-12-01T10:01:08Z", "n1", true)),
            Action::Busy(_)
        ));
        assert!(matches!(
            decide(st.as_ref(), &cx(&ev, "2026-12-01T10:01:08Z", "n2", false)),
            Action::Busy(c) if c.node == "n1"
        ));
        let done = finish(
            st.as_ref().expect("s"),
            record(at("2026-12-01T10:01:00Z").timestamp(), "n1"),
        );
        assert_eq!(done.claim, None);
        assert_eq!(done.last, at("2026-12-01T10:01:00Z").timestamp());
        st = Some(done);
        assert!(matches!(
            decide(st.as_ref(), &cx(&ev, "2026-12-01T10:01:30Z", "n2", false)),
            Action::Wait(_)
        ));
    }

    #[test]
    fn a_dead_nodes_claim_is_taken_over_only_once_stale_and_a_restarted_node_retakes_its_own() {
        let ev = CalendarEvent::parse("minutely").expect("ev");
        let p = at("2026-12-01T10:01:00Z").timestamp();
        let claimed = GuestJobState {
            last: at("2026-12-01T10:00:00Z").timestamp(),
            claim: Some(Claim {
                point: p,
                node: "n1".into(),
                since: p + 2,
                renewed: p + 30,
            }),
            runs: vec![],
        };
        // Renewed 30 s after the point: fresh until 120 s later.
        assert!(matches!(
            decide(
                Some(&claimed),
                &cx(&ev, "2026-12-01T10:03:29Z", "n2", false)
            ),
            Action::Busy(_)
        ));
        let Action::Run {
            point,
            state,
            took_over,
        } = decide(
            Some(&claimed),
            &cx(&ev, "2026-12-01T10:03:31Z", "n2", false),
        )
        else {
            panic!("stale claim not taken over")
        };
        // The latest due point runs (10:03), the stale claim is reported.
        assert_eq!(point, at("2026-12-01T10:03:00Z"));
        assert_eq!(took_over.map(|c| c.node), Some("n1".into()));
        assert_eq!(state.claim.map(|c| c.node), Some("n2".into()));
        // n1 restarted (not running it): its own claim is taken back at once.
        assert!(matches!(
            decide(
                Some(&claimed),
                &cx(&ev, "2026-12-01T10:01:40Z", "n1", false)
            ),
            Action::Run {
                took_over: Some(_),
                ..
            }
        ));
        // A renewal by the old holder after the takeover is refused.
        let taken = GuestJobState {
            claim: Some(Claim {
                point: p + 60,
                node: "n2".into(),
                since: p + 91,
                renewed: p + 91,
            }),
            ..claimed.clone()
        };
        assert_eq!(renew(&taken, "n1", p, at("2026-12-01T10:02:40Z")), None);
        let r = renew(&taken, "n2", p + 60, at("2026-12-01T10:02:40Z")).expect("own claim");
        assert_eq!(
            r.claim.map(|c| c.renewed),
            Some(at("2026-12-01T10:02:40Z").timestamp())
        );
        // A snapshot after the claim is the old holder's finished work.
        let c = claimed.claim.clone().expect("claim");
        assert!(finished_by(&c, at("2026-12-01T10:01:05Z")));
        assert!(!finished_by(&c, at("2026-12-01T10:00:05Z")));
    }

    #[test]
    fn a_taken_over_point_runs_however_late_the_takeover_is() {
        let ev = CalendarEvent::parse("02:30").expect("ev");
        let p = at("2026-12-02T02:30:00Z").timestamp();
        let st = GuestJobState {
            last: at("2026-12-01T02:30:00Z").timestamp(),
            claim: Some(Claim {
                point: p,
                node: "n1".into(),
                since: p + 3,
                renewed: p + 60,
            }),
            runs: vec![],
        };
        // Stale at 02:33:01, long past the slack: n2 runs the 02:30 point, once.
        let a = decide(Some(&st), &cx(&ev, "2026-12-02T02:33:01Z", "n2", false));
        let Action::Run { point, state, .. } = a else {
            panic!("not run: {a:?}")
        };
        assert_eq!(point, at("2026-12-02T02:30:00Z"));
        assert!(matches!(
            decide(Some(&state), &cx(&ev, "2026-12-02T02:33:06Z", "n3", false)),
            Action::Busy(c) if c.node == "n2"
        ));
    }

    #[test]
    fn missed_points_are_skipped_without_repeat_missed_and_run_once_with_it() {
        let ev = CalendarEvent::parse("minutely").expect("ev");
        let st = GuestJobState {
            last: at("2026-12-01T10:00:00Z").timestamp(),
            ..GuestJobState::default()
        };
        let mut c = cx(&ev, "2026-12-01T10:32:30Z", "n1", false);
        c.slack = Duration::seconds(10);
        let Action::Write(s) = decide(Some(&st), &c) else {
            panic!("not skipped")
        };
        assert_eq!(s.last, at("2026-12-01T10:32:00Z").timestamp());
        assert_eq!(s.claim, None);
        c.repeat_missed = true;
        assert!(matches!(
            decide(Some(&st), &c),
            Action::Run { point, .. } if point == at("2026-12-01T10:32:00Z")
        ));
    }

    #[test]
    fn history_is_bounded_and_an_old_runs_end_keeps_a_newer_claim() {
        let mut st = GuestJobState::default();
        for i in 0..(HISTORY_KEEP as i64 + 5) {
            st = finish(&st, record(i * 60, "n1"));
        }
        assert_eq!(st.runs.len(), HISTORY_KEEP);
        assert_eq!(
            st.runs.last().map(|r| r.point),
            Some((HISTORY_KEEP as i64 + 4) * 60)
        );
        st.claim = Some(Claim {
            point: 10_000,
            node: "n2".into(),
            since: 10_001,
            renewed: 10_001,
        });
        let after = finish(&st, record(9_940, "n1"));
        assert!(after.claim.is_some(), "a later point's claim stays");
    }
}
