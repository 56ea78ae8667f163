//! Retention (`prune-backups`): keep-last, keep-hourly, keep-daily, keep-weekly, keep-monthly, keep-yearly, evaluated as Proxmox does.
//!
//! Snapshots are taken newest first. The options run in that order; each keeps the newest
//! snapshot of each of its next N periods (hour, day, ISO week, month, year) that has one,
//! skipping the periods that hold a snapshot an earlier option already kept (those do not
//! count against N). Whatever no option keeps is removed. With no option set, all are kept
//! (`keep-all`). Periods are taken in the time zone passed in: Proxmox uses the node's
//! local time ([`chrono::Local`]); tests pass a fixed zone.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{BackupError, Result};

/// The keep options (a property string `keep-last=3,keep-daily=7`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepOptions {
    pub keep_all: bool,
    pub keep_last: Option<u64>,
    pub keep_hourly: Option<u64>,
    pub keep_daily: Option<u64>,
    pub keep_weekly: Option<u64>,
    pub keep_monthly: Option<u64>,
    pub keep_yearly: Option<u64>,
}

impl KeepOptions {
    /// Whether any limit is set (otherwise everything is kept).
    pub fn limits(&self) -> bool {
        !self.keep_all
            && [
                self.keep_last,
                self.keep_hourly,
                self.keep_daily,
                self.keep_weekly,
                self.keep_monthly,
                self.keep_yearly,
            ]
            .iter()
            .any(|o| o.is_some_and(|n| n > 0))
    }

    /// Parses `keep-last=3,keep-daily=13` (or `keep-all=1`).
    pub fn parse(s: &str) -> Result<KeepOptions> {
        let mut k = KeepOptions::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                BackupError::Invalid(format!("prune-backups: {part:?} is not key=value"))
            })?;
            let n: u64 = value.parse().map_err(|_| {
                BackupError::Invalid(format!(
                    "prune-backups: {key} needs a number, not {value:?}"
                ))
            })?;
            let slot = match key {
                "keep-all" => {
                    k.keep_all = match n {
                        0 => false,
                        1 => true,
                        _ => {
                            return Err(BackupError::Invalid(
                                "prune-backups: keep-all is 0 or 1".into(),
                            ))
                        }
                    };
                    continue;
                }
                "keep-last" => &mut k.keep_last,
                "keep-hourly" => &mut k.keep_hourly,
                "keep-daily" => &mut k.keep_daily,
                "keep-weekly" => &mut k.keep_weekly,
                "keep-monthly" => &mut k.keep_monthly,
                "keep-yearly" => &mut k.keep_yearly,
                other => {
                    return Err(BackupError::Invalid(format!(
                        "prune-backups: unknown option {other:?}"
                    )))
                }
            };
            if slot.replace(n).is_some() {
                return Err(BackupError::Invalid(format!(
                    "prune-backups: {key} given twice"
                )));
            }
        }
        if k.keep_all && k.limits_ignoring_all() {
            return Err(BackupError::Invalid(
                "prune-backups: keep-all conflicts with the other options".into(),
            ));
        }
        Ok(k)
    }

    fn limits_ignoring_all(&self) -> bool {
        KeepOptions {
            keep_all: false,
            ..*self
        }
        .limits()
    }
}

/// What happens to a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneMark {
    Keep,
    Remove,
}

/// Marks each snapshot time (any order) keep or remove; the result is newest first.
pub fn compute<Tz: TimeZone>(
    times: &[DateTime<Utc>],
    keep: &KeepOptions,
    tz: &Tz,
) -> Vec<(DateTime<Utc>, PruneMark)> {
    let mut list: Vec<DateTime<Utc>> = times.to_vec();
    list.sort_by(|a, b| b.cmp(a));
    list.dedup();
    if !keep.limits() {
        return list.into_iter().map(|t| (t, PruneMark::Keep)).collect();
    }
    let mut marks: BTreeMap<DateTime<Utc>, PruneMark> = BTreeMap::new();
    type Period = fn(&DateTime<chrono::FixedOffset>) -> String;
    let rules: [(Option<u64>, Period); 6] = [
        (keep.keep_last, |t| t.to_rfc3339()),
        (keep.keep_hourly, |t| {
            format!("{}/{}/{}/{}", t.year(), t.month(), t.day(), t.hour())
        }),
        (keep.keep_daily, |t| {
            format!("{}/{}/{}", t.year(), t.month(), t.day())
        }),
        (keep.keep_weekly, |t| {
            let w = t.iso_week();
            format!("{}/{}", w.year(), w.week())
        }),
        (keep.keep_monthly, |t| format!("{}/{}", t.year(), t.month())),
        (keep.keep_yearly, |t| t.year().to_string()),
    ];
    for (n, period) in rules {
        let Some(n) = n.filter(|n| *n > 0) else {
            continue;
        };
        let local = |t: &DateTime<Utc>| period(&t.with_timezone(tz).fixed_offset());
        let already: HashSet<String> = list
            .iter()
            .filter(|t| marks.get(t) == Some(&PruneMark::Keep))
            .map(local)
            .collect();
        let mut included: HashSet<String> = HashSet::new();
        for t in &list {
            if marks.contains_key(t) {
                continue;
            }
            let p = local(t);
            if already.contains(&p) {
                continue;
            }
            if included.contains(&p) {
                marks.insert(*t, PruneMark::Remove);
            } else {
                if included.len() as u64 >= n {
                    break;
                }
                included.insert(p);
                marks.insert(*t, PruneMark::Keep);
            }
        }
    }
    list.into_iter()
        .map(|t| (t, marks.get(&t).copied().unwrap_or(PruneMark::Remove)))
        .collect()
}

/// Applies `keep` to a guest's snapshots in `ds` (periods in the node's local time);
/// with `dry_run` nothing is removed. Returns each snapshot with its mark, newest first.
pub fn prune_guest(
    ds: &crate::datastore::Datastore,
    vmid: u32,
    keep: &KeepOptions,
    dry_run: bool,
) -> Result<Vec<(crate::datastore::SnapshotId, PruneMark)>> {
    let snaps = ds.snapshots(vmid)?;
    let times: Vec<DateTime<Utc>> = snaps.iter().map(|s| s.time).collect();
    let marks = compute(&times, keep, &chrono::Local);
    let mut out = Vec::new();
    for (time, mark) in marks {
        let id = crate::datastore::SnapshotId { vmid, time };
        if mark == PruneMark::Remove && !dry_run {
            ds.remove_snapshot(&id)?;
        }
        out.push((id, mark));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn kept(times: &[&str], keep: &str) -> Vec<String> {
        let list: Vec<_> = times.iter().map(|s| t(s)).collect();
        let k = KeepOptions::parse(keep).expect("options");
        let mut out: Vec<String> = compute(&list, &k, &Utc)
            .into_iter()
            .filter(|(_, m)| *m == PruneMark::Keep)
            .map(|(t, _)| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .collect();
        out.sort();
        out
    }

    const HOURS: &[&str] = &[
        "2019-11-15T09:39:15Z",
        "2019-11-15T10:49:15Z",
        "2019-11-15T10:59:15Z",
        "2019-11-15T11:39:15Z",
        "2019-11-15T11:49:15Z",
        "2019-11-15T11:59:15Z",
    ];

    #[test]
    fn keep_hourly_keeps_the_newest_of_each_hour() {
        assert_eq!(
            kept(HOURS, "keep-hourly=3"),
            [
                "2019-11-15T09:39:15Z",
                "2019-11-15T10:59:15Z",
                "2019-11-15T11:59:15Z"
            ]
        );
        assert_eq!(
            kept(HOURS, "keep-hourly=2"),
            ["2019-11-15T10:59:15Z", "2019-11-15T11:59:15Z"]
        );
    }

    #[test]
    fn a_snapshot_kept_by_keep_last_does_not_count_for_keep_hourly() {
        // keep-last=2 keeps 11:59 and 11:49; hour 11 is then covered, so keep-hourly=2
        // takes the next two hours that have backups: 10 and 9.
        assert_eq!(
            kept(HOURS, "keep-last=2,keep-hourly=2"),
            [
                "2019-11-15T09:39:15Z",
                "2019-11-15T10:59:15Z",
                "2019-11-15T11:49:15Z",
                "2019-11-15T11:59:15Z"
            ]
        );
    }

    #[test]
    fn daily_weekly_monthly_yearly() {
        let daily: Vec<String> = (1..=31)
            .map(|d| format!("2019-12-{d:02}T12:00:00Z"))
            .chain((1..=15).map(|d| format!("2020-01-{d:02}T12:00:00Z")))
            .collect();
        let refs: Vec<&str> = daily.iter().map(String::as_str).collect();
        // The PBS docs' shape: 3 days, then the newest of earlier ISO weeks.
        // 2020-01-15 is a Wednesday of ISO week 3; days 15, 14, 13 are kept by keep-daily;
        // week 3 (13..15) is then covered, so keep-weekly=2 takes weeks 2 (ends Sun 12th)
        // and 1 (ends Sun 5th).
        assert_eq!(
            kept(&refs, "keep-daily=3,keep-weekly=2"),
            [
                "2020-01-05T12:00:00Z",
                "2020-01-12T12:00:00Z",
                "2020-01-13T12:00:00Z",
                "2020-01-14T12:00:00Z",
                "2020-01-15T12:00:00Z"
            ]
        );
        // ISO week 1 of 2020 starts Monday 2019-12-30: 2019-12-31 and 2020-01-05 share it.
        assert_eq!(
            kept(&refs[..36], "keep-weekly=2"),
            ["2019-12-29T12:00:00Z", "2020-01-05T12:00:00Z"]
        );
        assert_eq!(
            kept(&refs, "keep-monthly=2"),
            ["2019-12-31T12:00:00Z", "2020-01-15T12:00:00Z"]
        );
        assert_eq!(
            kept(&refs, "keep-last=1,keep-monthly=1"),
            ["2019-12-31T12:00:00Z", "2020-01-15T12:00:00Z"]
        );
        assert_eq!(kept(&refs, "keep-yearly=5").len(), 2);
    }

    #[test]
    fn no_options_keep_everything_and_bad_options_are_refused() {
        assert_eq!(kept(HOURS, "").len(), HOURS.len());
        assert_eq!(kept(HOURS, "keep-all=1").len(), HOURS.len());
        for bad in [
            "keep-last",
            "keep-last=x",
            "keep-often=1",
            "keep-all=1,keep-last=1",
            "keep-last=1,keep-last=2",
        ] {
            assert!(KeepOptions::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prune_guest_removes_what_the_rules_do_not_keep() {
        let d = tempfile::tempdir().expect("tempdir");
        let ds = crate::datastore::Datastore::open(d.path()).expect("ds");
        for h in 0..5 {
            let w = ds
                .begin(100, t(&format!("2026-12-01T0{h}:00:00Z")))
                .expect("begin");
            let m = crate::manifest::Manifest {
                vmid: 100,
                kind: crate::manifest::GuestType::Qemu,
                backup_time: String::new(),
                started: 0,
                finished: 0,
                mode: crate::manifest::BackupMode::Stop,
                config: String::new(),
                disks: vec![],
            };
            w.commit(&m).expect("commit");
        }
        let k = KeepOptions::parse("keep-last=2").expect("k");
        let dry = prune_guest(&ds, 100, &k, true).expect("dry run");
        assert_eq!(dry.iter().filter(|x| x.1 == PruneMark::Remove).count(), 3);
        assert_eq!(ds.snapshots(100).expect("list").len(), 5);
        prune_guest(&ds, 100, &k, false).expect("prune");
        let left: Vec<String> = ds
            .snapshots(100)
            .expect("list")
            .iter()
            .map(|s| s.time_string())
            .collect();
        assert_eq!(left, ["2026-12-01T03:00:00Z", "2026-12-01T04:00:00Z"]);
    }

    #[test]
    fn periods_are_local_time() {
        // 23:30 UTC on the 1st is the 2nd at UTC+2: with keep-daily=1 in UTC+2, the
        // 2nd's 00:10 UTC backup and the 1st 23:30 UTC one share a day.
        let list = [t("2026-03-01T23:30:00Z"), t("2026-03-02T00:10:00Z")];
        let k = KeepOptions::parse("keep-daily=2").expect("k");
        let utc: Vec<_> = compute(&list, &k, &Utc).into_iter().map(|x| x.1).collect();
        assert_eq!(utc, [PruneMark::Keep, PruneMark::Keep]);
        let plus2 = FixedOffset::east_opt(2 * 3600).expect("tz");
        let local: Vec<_> = compute(&list, &k, &plus2)
            .into_iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(local, [PruneMark::Keep, PruneMark::Remove]);
    }
}
