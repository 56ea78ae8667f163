//! When a job runs (pure): the scheduled time that is due now, given the last one run, with `repeat-missed` as Proxmox.
//!
//! A job's runs are its calendar event's points. The scheduler wakes up at `now` knowing the
//! last scheduled time it ran (`last`, or the time the job was created). The points after
//! `last` up to `now` are due. Only the latest due point runs (several missed points never
//! run back to back), and only if it is recent (`now - point <= slack`) or the job has
//! `repeat-missed`; otherwise the missed points are skipped. The point returned is the run's
//! identity: a cluster runs a job once per point by claiming it (compare-and-swap of the job's
//! state in the replicated tree from `last` to the point) before starting.

use chrono::{DateTime, TimeZone};

use crate::calendar::CalendarEvent;

/// What the scheduler should do for a job now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due<Tz: TimeZone> {
    /// Run the job for this scheduled point now.
    Run(DateTime<Tz>),
    /// Points were missed and are skipped (no `repeat-missed`); record this one as done.
    Skip(DateTime<Tz>),
    /// Nothing due; the next point.
    Wait(Option<DateTime<Tz>>),
}

/// The latest point of `event` in (after, until], if any.
fn latest_point<Tz: TimeZone>(
    event: &CalendarEvent,
    after: &DateTime<Tz>,
    until: &DateTime<Tz>,
) -> Option<DateTime<Tz>> {
    let mut cur = event.next_after(after)?;
    if cur > *until {
        return None;
    }
    // One step per missed point: a day's outage of a minutely job is 1440 steps.
    loop {
        match event.next_after(&cur) {
            Some(n) if n <= *until => cur = n,
            _ => return Some(cur),
        }
    }
}

/// Decides for one job. `slack` is how late a point may still run without `repeat-missed`
/// (the scheduler's own wake-up delay).
pub fn due<Tz: TimeZone>(
    event: &CalendarEvent,
    last: &DateTime<Tz>,
    now: &DateTime<Tz>,
    repeat_missed: bool,
    slack: chrono::Duration,
) -> Due<Tz> {
    match latest_point(event, last, now) {
        Some(p) if repeat_missed || now.clone() - p.clone() <= slack => Due::Run(p),
        Some(p) => Due::Skip(p),
        None => Due::Wait(event.next_after(now)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("t")
            .with_timezone(&Utc)
    }

    #[test]
    fn every_minute_runs_once_per_minute() {
        let ev = CalendarEvent::parse("minutely").expect("ev");
        let slack = Duration::seconds(30);
        let start = at("2026-12-01T10:00:00Z");
        let mut last = start;
        let mut runs = Vec::new();
        // The scheduler wakes every 10 s for 3 minutes.
        for s in (10..=180).step_by(10) {
            let now = start + Duration::seconds(s);
            if let Due::Run(p) = due(&ev, &last, &now, false, slack) {
                runs.push(p);
                last = p;
            }
        }
        assert_eq!(
            runs,
            vec![
                at("2026-12-01T10:01:00Z"),
                at("2026-12-01T10:02:00Z"),
                at("2026-12-01T10:03:00Z")
            ]
        );
    }

    #[test]
    fn missed_points_run_once_with_repeat_missed_and_are_skipped_without() {
        let ev = CalendarEvent::parse("02:30").expect("ev");
        let last = at("2026-12-01T02:30:00Z");
        // Down for three days: one run, for the latest missed point.
        let now = at("2026-12-04T09:00:00Z");
        let slack = Duration::seconds(60);
        assert_eq!(
            due(&ev, &last, &now, true, slack),
            Due::Run(at("2026-12-04T02:30:00Z"))
        );
        assert_eq!(
            due(&ev, &last, &now, false, slack),
            Due::Skip(at("2026-12-04T02:30:00Z"))
        );
        assert_eq!(
            due(&ev, &at("2026-12-04T02:30:00Z"), &now, false, slack),
            Due::Wait(Some(at("2026-12-05T02:30:00Z")))
        );
        // Just a little late: runs without repeat-missed too.
        assert_eq!(
            due(&ev, &last, &at("2026-12-02T02:30:20Z"), false, slack),
            Due::Run(at("2026-12-02T02:30:00Z"))
        );
    }
}
