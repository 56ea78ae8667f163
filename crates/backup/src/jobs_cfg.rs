//! `jobs.cfg` backup jobs (Proxmox section-config: `vzdump: <id>` with schedule, storage, mode, guests, prune-backups, ...), validated with line numbers.

use serde::{Deserialize, Serialize};

use crate::calendar::CalendarEvent;
use crate::error::{BackupError, Result};
use crate::manifest::BackupMode;
use crate::prune::KeepOptions;

/// The section type of backup jobs.
pub const JOB_TYPE: &str = "vzdump";
/// Properties Proxmox writes that brigade keeps but does not act on.
const PASSIVE: &[&str] = &[
    "comment",
    "compress",
    "notes-template",
    "mailto",
    "mailnotification",
    "notification-mode",
];

/// Which guests a job backs up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// These VMIDs.
    Vmids(Vec<u32>),
    /// Every guest but the excluded.
    All { exclude: Vec<u32> },
    /// The members of a pool.
    Pool(String),
}

/// One backup job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupJob {
    pub id: String,
    pub schedule: String,
    pub storage: String,
    pub mode: BackupMode,
    pub selection: Selection,
    pub prune: Option<KeepOptions>,
    /// Run a start missed while no node could (vzdump's `repeat-missed`).
    pub repeat_missed: bool,
    /// KiB/s.
    pub bwlimit_kib: Option<u64>,
    pub enabled: bool,
    /// Passive properties, kept for writing back.
    pub extra: Vec<(String, String)>,
    /// The header's line in the file.
    pub line: usize,
}

impl BackupJob {
    /// The parsed schedule (validated at parse time).
    pub fn calendar(&self) -> Result<CalendarEvent> {
        CalendarEvent::parse(&self.schedule)
    }
}

fn err(line: usize, msg: impl std::fmt::Display) -> BackupError {
    BackupError::Invalid(format!("jobs.cfg line {line}: {msg}"))
}

fn parse_bool(line: usize, key: &str, v: &str) -> Result<bool> {
    match v {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        _ => Err(err(line, format!("{key}: expected 0 or 1, not {v:?}"))),
    }
}

fn parse_vmids(line: usize, key: &str, v: &str) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for p in v.split([',', ' ']).filter(|p| !p.is_empty()) {
        let id: u32 = p
            .parse()
            .ok()
            .filter(|n| (100..=999_999_999).contains(n))
            .ok_or_else(|| err(line, format!("{key}: {p:?} is not a VMID (100..999999999)")))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(err(line, format!("{key}: empty list")));
    }
    Ok(out)
}

struct Raw {
    id: String,
    line: usize,
    props: Vec<(String, String, usize)>,
}

/// Parses a whole `jobs.cfg`; sections of other types (`sync:`, `verification:`) are skipped.
pub fn parse(text: &str) -> Result<Vec<BackupJob>> {
    let mut sections: Vec<(String, Raw)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let (_, sec) = sections
                .last_mut()
                .ok_or_else(|| err(n, "property before any section header"))?;
            let body = line.trim();
            let (k, v) = body
                .split_once([' ', '\t'])
                .map(|(k, v)| (k, v.trim()))
                .unwrap_or((body, ""));
            if sec.props.iter().any(|(pk, _, _)| pk == k) {
                return Err(err(n, format!("duplicate property {k:?}")));
            }
            sec.props.push((k.to_string(), v.to_string(), n));
            continue;
        }
        let (kind, id) = line
            .split_once(':')
            .map(|(k, i)| (k.trim(), i.trim()))
            .ok_or_else(|| err(n, "expected a section header `TYPE: ID`"))?;
        if id.is_empty()
            || id.len() > 64
            || !id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(err(n, format!("invalid job id {id:?}")));
        }
        if sections.iter().any(|(k, s)| k == kind && s.id == id) {
            return Err(err(n, format!("duplicate job {id:?}")));
        }
        sections.push((
            kind.to_string(),
            Raw {
                id: id.to_string(),
                line: n,
                props: Vec::new(),
            },
        ));
    }
    sections
        .into_iter()
        .filter(|(k, _)| k == JOB_TYPE)
        .map(|(_, raw)| job(raw))
        .collect()
}

fn job(raw: Raw) -> Result<BackupJob> {
    let mut schedule = None;
    let mut storage = None;
    let mut mode = BackupMode::Snapshot;
    let mut vmids = None;
    let mut all = false;
    let mut exclude = Vec::new();
    let mut pool = None;
    let mut prune = None;
    let mut repeat_missed = false;
    let mut bwlimit_kib = None;
    let mut enabled = true;
    let mut extra = Vec::new();
    for (k, v, n) in raw.props {
        match k.as_str() {
            "schedule" => {
                CalendarEvent::parse(&v).map_err(|e| err(n, e))?;
                schedule = Some(v);
            }
            "storage" => {
                if !brigade_guest::volume::is_valid_storage_id(&v) {
                    return Err(err(n, format!("storage: invalid storage id {v:?}")));
                }
                storage = Some(v);
            }
            "mode" => mode = v.parse().map_err(|e| err(n, e))?,
            "vmid" => vmids = Some(parse_vmids(n, "vmid", &v)?),
            "exclude" => exclude = parse_vmids(n, "exclude", &v)?,
            "all" => all = parse_bool(n, "all", &v)?,
            "pool" => {
                if v.is_empty() {
                    return Err(err(n, "pool: empty"));
                }
                pool = Some(v);
            }
            "prune-backups" => prune = Some(KeepOptions::parse(&v).map_err(|e| err(n, e))?),
            "repeat-missed" => repeat_missed = parse_bool(n, "repeat-missed", &v)?,
            "enabled" => enabled = parse_bool(n, "enabled", &v)?,
            "bwlimit" => {
                bwlimit_kib = Some(v.parse::<u64>().map_err(|_| {
                    err(n, format!("bwlimit: expected KiB/s as a number, not {v:?}"))
                })?)
                .filter(|b| *b > 0);
            }
            p if PASSIVE.contains(&p) => extra.push((k, v)),
            other => return Err(err(n, format!("unknown property {other:?}"))),
        }
    }
    let line = raw.line;
    let what = |m: &str| err(line, format!("job {}: {m}", raw.id));
    if !exclude.is_empty() && !all {
        return Err(what("exclude needs all 1"));
    }
    let selection = match (vmids, all, pool) {
        (Some(v), false, None) => Selection::Vmids(v),
        (None, true, None) => Selection::All { exclude },
        (None, false, Some(p)) => Selection::Pool(p),
        (None, false, None) => return Err(what("needs vmid, all 1 or pool")),
        _ => return Err(what("vmid, all and pool exclude each other")),
    };
    Ok(BackupJob {
        schedule: schedule.ok_or_else(|| what("needs a schedule"))?,
        storage: storage.ok_or_else(|| what("needs a storage"))?,
        id: raw.id,
        mode,
        selection,
        prune,
        repeat_missed,
        bwlimit_kib,
        enabled,
        extra,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "vzdump: backup-nightly\n\tschedule mon..fri 02:30\n\tstorage backups\n\
        \tmode snapshot\n\tvmid 100,101\n\tprune-backups keep-last=3,keep-daily=7\n\trepeat-missed 1\n\
        \tbwlimit 10240\n\tenabled 1\n\tcomment nightly\n\n\
        sync: other\n\tremote x\n\n\
        vzdump: backup-all\n\tschedule */15\n\tstorage backups\n\tall 1\n\texclude 102\n\tmode stop\n";

    #[test]
    fn jobs_parse() {
        let jobs = parse(GOOD).expect("parses");
        assert_eq!(jobs.len(), 2);
        let a = &jobs[0];
        assert_eq!(a.id, "backup-nightly");
        assert_eq!(a.selection, Selection::Vmids(vec![100, 101]));
        assert_eq!(a.prune.expect("prune").keep_daily, Some(7));
        assert!(a.repeat_missed && a.enabled);
        assert_eq!(a.bwlimit_kib, Some(10240));
        assert!(a.calendar().is_ok());
        assert_eq!(jobs[1].selection, Selection::All { exclude: vec![102] });
        assert_eq!(jobs[1].mode, BackupMode::Stop);
        assert_eq!(jobs[1].line, 15);
    }

    #[test]
    fn bad_jobs_name_the_line() {
        let head = "vzdump: j\n\tstorage s\n\tvmid 100\n";
        for (text, needle) in [
            ("\tschedule daily\n", "line 1: property before"),
            ("vzdump: j\n\tstorage s\n\tvmid 100\n", "needs a schedule"),
            (
                &format!("{head}\tschedule someday\n"),
                "line 4: invalid schedule",
            ),
            (
                &format!("{head}\tschedule daily\n\tmode fast\n"),
                "line 5: unknown backup mode",
            ),
            (
                &format!("{head}\tschedule daily\n\tbogus 1\n"),
                "line 5: unknown property",
            ),
            (
                &format!("{head}\tschedule daily\n\tall 1\n"),
                "exclude each other",
            ),
            (
                &format!("{head}\tschedule daily\n\tprune-backups keep-daily=x\n"),
                "line 5: prune-backups",
            ),
            (
                &format!("{head}\tschedule daily\n\tvmid 7\n"),
                "line 5: duplicate property",
            ),
            (
                "vzdump: j\n\tstorage s\n\tvmid 7\n\tschedule daily\n",
                "line 3: vmid",
            ),
            ("vzdump: 1bad\n", "invalid job id"),
            (
                &format!("{head}\tschedule daily\n{head}\tschedule daily\n"),
                "line 5: duplicate job",
            ),
            (
                &format!("{head}\tschedule daily\n\tenabled maybe\n"),
                "line 5: enabled",
            ),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
