//! The text forms of a task's files (pure): its timestamped log lines with the final
//! `TASK OK` / `TASK ERROR: ...` line, and the index of finished tasks, one
//! `UPID ENDTIME STATUS` line each, as Proxmox's /var/log/pve/tasks/index.

use super::upid::Upid;

/// The final log line of a task that succeeded (Proxmox's text).
pub const TASK_OK_LINE: &str = "TASK OK";
/// The prefix of the final log line of a task that failed.
pub const TASK_ERROR_PREFIX: &str = "TASK ERROR: ";
/// What a task still running when its daemon died ended with.
pub const UNEXPECTED_EXIT: &str = "unexpected daemon exit";
/// Width of the timestamp that starts every log line (`2026-12-01 18:46:39.123`).
pub const STAMP_WIDTH: usize = 23;

/// How a task ended: Proxmox's exitstatus (`OK` or the error text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskExit {
    Ok,
    Error(String),
}

impl TaskExit {
    /// Proxmox's exitstatus text: `OK` or the error message.
    pub fn text(&self) -> &str {
        match self {
            TaskExit::Ok => "OK",
            TaskExit::Error(m) => m,
        }
    }

    /// The exit of an index's status text.
    pub fn from_text(s: &str) -> TaskExit {
        if s == "OK" {
            TaskExit::Ok
        } else {
            TaskExit::Error(s.to_string())
        }
    }

    /// The final log line for this exit.
    pub fn final_line(&self) -> String {
        match self {
            TaskExit::Ok => TASK_OK_LINE.to_string(),
            TaskExit::Error(m) => format!("{TASK_ERROR_PREFIX}{m}"),
        }
    }
}

/// One line of text without line breaks (an error with causes may have them).
pub fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A log line: the UTC time to the millisecond, a space, the text.
pub fn format_line(unix_ms: i64, text: &str) -> String {
    let stamp = chrono::DateTime::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S%.3f");
    format!("{stamp} {}", one_line(text))
}

/// The text of a log line without its timestamp.
pub fn line_text(line: &str) -> &str {
    line.get(STAMP_WIDTH + 1..).unwrap_or(line)
}

/// How a task ended, from its log's last line; `None` while it has not.
pub fn exit_of_last_line(line: &str) -> Option<TaskExit> {
    let text = line_text(line);
    if text == TASK_OK_LINE {
        Some(TaskExit::Ok)
    } else {
        text.strip_prefix(TASK_ERROR_PREFIX)
            .map(|m| TaskExit::Error(m.to_string()))
    }
}

/// A finished task as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub upid: Upid,
    /// Unix seconds when it ended.
    pub endtime: u64,
    pub exit: TaskExit,
}

impl IndexEntry {
    pub fn line(&self) -> String {
        format!(
            "{} {:08X} {}",
            self.upid,
            self.endtime,
            one_line(self.exit.text())
        )
    }
}

/// Why an index cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task index line {line}: {why}")]
pub struct IndexError {
    pub line: usize,
    pub why: String,
}

/// Parses an index; any bad line refuses the whole (it is rebuilt from the logs).
pub fn parse_index(text: &str) -> Result<Vec<IndexEntry>, IndexError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let err = |why: String| IndexError { line: i + 1, why };
        let (upid, rest) = line
            .split_once(' ')
            .ok_or_else(|| err("no end time".into()))?;
        let (end, status) = rest
            .split_once(' ')
            .ok_or_else(|| err("no status".into()))?;
        let upid: Upid = upid
            .parse()
            .map_err(|e: super::upid::UpidError| err(e.to_string()))?;
        let endtime = u64::from_str_radix(end, 16).map_err(|e| err(format!("end time: {e}")))?;
        if status.is_empty() {
            return Err(err("empty status".into()));
        }
        out.push(IndexEntry {
            upid,
            endtime,
            exit: TaskExit::from_text(status),
        });
    }
    Ok(out)
}

/// The index text of these entries.
pub fn format_index(entries: &[IndexEntry]) -> String {
    entries.iter().map(|e| e.line() + "\n").collect()
}

/// How many of the oldest tasks to drop (entries oldest first, with their log sizes) so
/// that at most `max_count` remain and their logs total at most `max_bytes`; the newest
/// task is always kept.
pub fn to_drop(sizes: &[u64], max_count: usize, max_bytes: u64) -> usize {
    let mut drop = sizes.len().saturating_sub(max_count);
    let mut total: u64 = sizes[drop..].iter().sum();
    while total > max_bytes && drop + 1 < sizes.len() {
        total -= sizes[drop];
        drop += 1;
    }
    drop
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upid(n: u64) -> Upid {
        Upid {
            node: "n1".into(),
            pid: 7,
            pstart: n,
            starttime: 1000 + n,
            kind: "qmstart".into(),
            id: "100".into(),
            user: "root@pam".into(),
        }
    }

    #[test]
    fn index_round_trips_and_keeps_error_text() {
        let entries = vec![
            IndexEntry {
                upid: upid(1),
                endtime: 2000,
                exit: TaskExit::Ok,
            },
            IndexEntry {
                upid: upid(2),
                endtime: 2001,
                exit: TaskExit::Error("disk vm-100-disk-0 is missing".into()),
            },
        ];
        let text = format_index(&entries);
        assert_eq!(parse_index(&text).expect("parse"), entries);
    }

    #[test]
    fn a_corrupt_index_line_is_named() {
        let good = IndexEntry {
            upid: upid(1),
            endtime: 2000,
            exit: TaskExit::Ok,
        }
        .line();
        for bad in ["garbage", "UPID:x 0001 OK", "\u{0}\u{1} zz", &good[..20]] {
            let text = format!("{good}\n{bad}\n");
            let e = parse_index(&text).expect_err(bad);
            assert_eq!(e.line, 2, "{e}");
        }
    }

    #[test]
    fn log_lines_carry_a_timestamp_and_the_final_line_its_exit() {
        let l = format_line(1_764_614_799_123, "migration started");
        assert_eq!(l, "2025-12-01 18:46:39.123 migration started");
        assert_eq!(line_text(&l), "migration started");
        let end = format_line(
            0,
            &TaskExit::Error("boom\ncaused by: x".into()).final_line(),
        );
        assert_eq!(
            exit_of_last_line(&end),
            Some(TaskExit::Error("boom; caused by: x".into()))
        );
        assert_eq!(
            exit_of_last_line(&format_line(0, TASK_OK_LINE)),
            Some(TaskExit::Ok)
        );
        assert_eq!(exit_of_last_line(&l), None);
    }

    #[test]
    fn pruning_drops_the_oldest_by_count_then_bytes_but_keeps_the_newest() {
        assert_eq!(to_drop(&[1, 1, 1], 5, 100), 0);
        assert_eq!(to_drop(&[1, 1, 1, 1], 2, 100), 2);
        assert_eq!(to_drop(&[50, 50, 50], 10, 100), 1);
        assert_eq!(to_drop(&[500], 10, 100), 0);
        assert_eq!(to_drop(&[], 10, 100), 0);
    }
}
