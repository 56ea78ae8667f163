//! Writing `jobs.cfg` back: a job as its `vzdump:` section in Proxmox's format, and replacing one section of a file (other sections and comments kept).

use crate::jobs_cfg::{BackupJob, Selection, JOB_TYPE};
use crate::prune::KeepOptions;

/// The keep options as their property string (`keep-last=3,keep-daily=7`).
pub fn keep_text(k: &KeepOptions) -> String {
    let mut parts = Vec::new();
    if k.keep_all {
        parts.push("keep-all=1".to_string());
    }
    for (name, v) in [
        ("keep-last", k.keep_last),
        ("keep-hourly", k.keep_hourly),
        ("keep-daily", k.keep_daily),
        ("keep-weekly", k.keep_weekly),
        ("keep-monthly", k.keep_monthly),
        ("keep-yearly", k.keep_yearly),
    ] {
        if let Some(n) = v {
            parts.push(format!("{name}={n}"));
        }
    }
    parts.join(",")
}

/// A list of VMIDs as Proxmox writes it (`100,101`).
pub fn vmid_list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// The job's section, ending with a newline.
pub fn to_section(job: &BackupJob) -> String {
    let mut out = format!("{JOB_TYPE}: {}\n", job.id);
    let mut prop = |k: &str, v: &str| out.push_str(&format!("\t{k} {v}\n"));
    prop("schedule", &job.schedule);
    prop("storage", &job.storage);
    prop("mode", &job.mode.to_string());
    match &job.selection {
        Selection::Vmids(v) => prop("vmid", &vmid_list(v)),
        Selection::All { exclude } => {
            prop("all", "1");
            if !exclude.is_empty() {
                prop("exclude", &vmid_list(exclude));
            }
        }
        Selection::Pool(p) => prop("pool", p),
    }
    if let Some(k) = &job.prune {
        prop("prune-backups", &keep_text(k));
    }
    if job.repeat_missed {
        prop("repeat-missed", "1");
    }
    if let Some(b) = job.bwlimit_kib {
        prop("bwlimit", &b.to_string());
    }
    prop("enabled", if job.enabled { "1" } else { "0" });
    for (k, v) in &job.extra {
        prop(k, v);
    }
    out
}

/// Whether `line` starts a section (a header `TYPE: ID`).
fn is_header(line: &str) -> bool {
    !line.trim().is_empty() && !line.starts_with([' ', '\t']) && !line.trim_start().starts_with('#')
}

/// `text` with the `vzdump: id` section replaced by `section` (removed when `None`,
/// appended when it was not there).
pub fn replace_section(text: &str, id: &str, section: Option<&str>) -> String {
    let header = |l: &str| {
        l.split_once(':')
            .is_some_and(|(k, i)| k.trim() == JOB_TYPE && i.trim() == id)
    };
    let mut out = String::new();
    let mut skipping = false;
    let mut replaced = false;
    for line in text.lines() {
        if is_header(line) {
            skipping = header(line);
            if skipping && !replaced {
                replaced = true;
                if let Some(s) = section {
                    out.push_str(s);
                    out.push('\n');
                }
            }
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    if let (false, Some(s)) = (replaced, section) {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(s);
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs_cfg::parse;

    const FILE: &str = "# jobs\nvzdump: a\n\tschedule daily\n\tstorage backups\n\tvmid 100\n\n\
        sync: s\n\tremote x\n\n\
        vzdump: b\n\tschedule */15\n\tstorage backups\n\tall 1\n\texclude 102\n\tprune-backups keep-last=3,keep-daily=7\n\
        \trepeat-missed 1\n\tbwlimit 100\n\tenabled 0\n\tcomment hi\n";

    #[test]
    fn a_section_round_trips_and_replacing_keeps_the_rest() {
        let jobs = parse(FILE).expect("parses");
        for j in &jobs {
            let again = parse(&to_section(j)).expect("own output parses");
            assert_eq!(
                BackupJob {
                    line: 0,
                    ..again[0].clone()
                },
                BackupJob {
                    line: 0,
                    ..j.clone()
                }
            );
        }
        let b = to_section(&jobs[1]);
        assert!(
            b.contains("\tprune-backups keep-last=3,keep-daily=7\n"),
            "{b}"
        );
        let mut a = jobs[0].clone();
        a.schedule = "hourly".into();
        let text = replace_section(FILE, "a", Some(&to_section(&a)));
        assert!(
            text.starts_with("# jobs\nvzdump: a\n\tschedule hourly\n"),
            "{text}"
        );
        assert!(text.contains("sync: s\n\tremote x\n"), "{text}");
        assert_eq!(parse(&text).expect("parses").len(), 2);
        let gone = replace_section(&text, "b", None);
        assert_eq!(parse(&gone).expect("parses").len(), 1);
        assert!(gone.contains("sync: s"), "{gone}");
        let added = replace_section(
            &gone,
            "c",
            Some(&to_section(&BackupJob {
                id: "c".into(),
                ..a
            })),
        );
        let ids: Vec<_> = parse(&added)
            .expect("parses")
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(replace_section("", "x", Some("vzdump: x\n")), "vzdump: x\n");
    }
}
