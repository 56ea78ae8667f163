//! The node's task files (like /var/log/pve/tasks): `index` lists the finished tasks,
//! `log/<UPID>` holds each task's lines. Bounded by count and bytes, oldest dropped. On
//! open, a task whose log has no final line was running when the daemon died: it ends as
//! `unexpected daemon exit`. A corrupt index is rebuilt from the logs, with a warning.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::record::{self, IndexEntry, TaskExit};
use super::upid::Upid;
use crate::error::BoxError;
use crate::state_dir::write_atomic;

/// The index file in the tasks directory.
const INDEX_FILE: &str = "index";
/// The directory of the log files.
const LOG_DIR: &str = "log";
/// Mode of the task files.
const TASK_FILE_MODE: u32 = 0o640;

/// How much the store keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Finished tasks kept.
    pub max_tasks: usize,
    /// Bytes of finished tasks' logs kept.
    pub max_bytes: u64,
    /// Bytes one task's log may grow to; later lines are dropped.
    pub max_task_log_bytes: u64,
}

/// What the store keeps by default.
pub const DEFAULT_LIMITS: Limits = Limits {
    max_tasks: 1000,
    max_bytes: 64 * 1024 * 1024,
    max_task_log_bytes: 1024 * 1024,
};

/// A finished task and its log's size.
#[derive(Debug, Clone)]
pub struct Finished {
    pub entry: IndexEntry,
    pub bytes: u64,
}

/// The task files of one node.
#[derive(Debug)]
pub struct TaskStore {
    dir: PathBuf,
    limits: Limits,
    /// Oldest first.
    finished: Vec<Finished>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn last_line(path: &Path) -> std::io::Result<Option<String>> {
    let text = fs::read(path)?;
    Ok(String::from_utf8_lossy(&text)
        .lines()
        .last()
        .map(str::to_string))
}

fn mtime_secs(path: &Path) -> u64 {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or_else(now_secs)
}

impl TaskStore {
    /// Opens (creating) the store in `dir`, ending the tasks the last daemon left running.
    pub fn open(dir: &Path, limits: Limits) -> std::io::Result<TaskStore> {
        fs::create_dir_all(dir.join(LOG_DIR))?;
        let mut store = TaskStore {
            dir: dir.to_path_buf(),
            limits,
            finished: Vec::new(),
        };
        let entries = match fs::read(store.dir.join(INDEX_FILE)) {
            Ok(b) => match std::str::from_utf8(&b)
                .map_err(BoxError::from)
                .and_then(|t| record::parse_index(t).map_err(BoxError::from))
            {
                Ok(e) => e,
                Err(why) => {
                    tracing::warn!(
                        "task index {} is corrupt ({why}): rebuilding it from the task logs",
                        store.dir.join(INDEX_FILE).display()
                    );
                    Vec::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut known = std::collections::HashSet::new();
        for entry in entries {
            let path = store.log_path(&entry.upid);
            let Ok(meta) = fs::metadata(&path) else {
                continue; // its log is gone: nothing to show
            };
            if known.insert(entry.upid.to_string()) {
                store.finished.push(Finished {
                    entry,
                    bytes: meta.len(),
                });
            }
        }
        // Logs the index does not list: finished before the index was written, or
        // interrupted by the daemon's exit.
        for f in fs::read_dir(store.dir.join(LOG_DIR))? {
            let f = f?;
            let name = f.file_name().to_string_lossy().to_string();
            if known.contains(&name) {
                continue;
            }
            let Ok(upid) = name.parse::<Upid>() else {
                tracing::warn!("ignoring {}: not a task log", f.path().display());
                continue;
            };
            let path = f.path();
            let last = match last_line(&path) {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!("ignoring task log {}: {e}", path.display());
                    continue;
                }
            };
            let exit = if let Some(exit) = last.as_deref().and_then(record::exit_of_last_line) {
                exit
            } else {
                let exit = TaskExit::Error(record::UNEXPECTED_EXIT.into());
                store.append_line(&upid, &exit.final_line())?;
                tracing::warn!("task {upid} was running when the daemon stopped: marked as failed");
                exit
            };
            let bytes = fs::metadata(&path)?.len();
            store.finished.push(Finished {
                entry: IndexEntry {
                    endtime: mtime_secs(&path),
                    upid,
                    exit,
                },
                bytes,
            });
        }
        store
            .finished
            .sort_by_key(|f| (f.entry.endtime, f.entry.upid.starttime, f.entry.upid.pstart));
        store.prune_and_write()?;
        Ok(store)
    }

    fn log_path(&self, upid: &Upid) -> PathBuf {
        self.dir.join(LOG_DIR).join(upid.to_string())
    }

    /// Appends one line (the timestamp added) to a task's log.
    fn append_line(&self, upid: &Upid, text: &str) -> std::io::Result<u64> {
        let line = record::format_line(now_ms(), text) + "\n";
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(upid))?;
        f.write_all(line.as_bytes())?;
        Ok(line.len() as u64)
    }

    /// Creates a running task's log with its first line.
    pub fn begin(&self, upid: &Upid, first: &str) -> std::io::Result<u64> {
        use std::os::unix::fs::OpenOptionsExt as _;
        fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(TASK_FILE_MODE)
            .open(self.log_path(upid))?;
        self.append_line(upid, first)
    }

    /// Appends a line to a running task's log unless it reached its size limit; the
    /// bytes written.
    pub fn log(&self, upid: &Upid, written: u64, text: &str) -> std::io::Result<u64> {
        if written >= self.limits.max_task_log_bytes {
            return Ok(0);
        }
        if written + text.len() as u64 + 32 > self.limits.max_task_log_bytes {
            return self.append_line(upid, "(log truncated: later lines are dropped)");
        }
        self.append_line(upid, text)
    }

    /// Ends a task: its final line, its index entry, the oldest dropped.
    pub fn finish(&mut self, upid: &Upid, exit: TaskExit) -> std::io::Result<()> {
        self.append_line(upid, &exit.final_line())?;
        let bytes = fs::metadata(self.log_path(upid))?.len();
        self.finished.push(Finished {
            entry: IndexEntry {
                upid: upid.clone(),
                endtime: now_secs(),
                exit,
            },
            bytes,
        });
        self.prune_and_write()
    }

    fn prune_and_write(&mut self) -> std::io::Result<()> {
        let sizes: Vec<u64> = self.finished.iter().map(|f| f.bytes).collect();
        let n = record::to_drop(&sizes, self.limits.max_tasks, self.limits.max_bytes);
        for old in self.finished.drain(..n) {
            let _ = fs::remove_file(self.dir.join(LOG_DIR).join(old.entry.upid.to_string()));
        }
        let entries: Vec<IndexEntry> = self.finished.iter().map(|f| f.entry.clone()).collect();
        write_atomic(
            &self.dir.join(INDEX_FILE),
            record::format_index(&entries).as_bytes(),
            TASK_FILE_MODE,
        )
    }

    /// The finished tasks, oldest first.
    pub fn finished(&self) -> &[Finished] {
        &self.finished
    }

    /// A finished task's entry.
    pub fn finished_entry(&self, upid: &Upid) -> Option<&IndexEntry> {
        self.finished
            .iter()
            .rev()
            .find(|f| &f.entry.upid == upid)
            .map(|f| &f.entry)
    }

    /// Lines `start..start+limit` of a task's log (0-based) and how many it has.
    pub fn read_log(
        &self,
        upid: &Upid,
        start: usize,
        limit: usize,
    ) -> std::io::Result<(Vec<String>, usize)> {
        let text = fs::read(self.log_path(upid))?;
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        let total = lines.len();
        Ok((
            lines
                .into_iter()
                .skip(start)
                .take(limit)
                .map(str::to_string)
                .collect(),
            total,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upid(n: u64) -> Upid {
        Upid {
            node: "n1".into(),
            pid: 42,
            pstart: n,
            starttime: 1_700_000_000 + n,
            kind: "qmstart".into(),
            id: "100".into(),
            user: "root@pam".into(),
        }
    }

    const SMALL: Limits = Limits {
        max_tasks: 3,
        max_bytes: 1 << 20,
        max_task_log_bytes: 4096,
    };

    #[test]
    fn finished_tasks_and_their_logs_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = TaskStore::open(dir.path(), SMALL).expect("open");
        s.begin(&upid(1), "starting").expect("begin");
        s.log(&upid(1), 0, "step one").expect("log");
        s.finish(&upid(1), TaskExit::Error("disk missing".into()))
            .expect("finish");
        drop(s);
        let s = TaskStore::open(dir.path(), SMALL).expect("reopen");
        let e = s.finished_entry(&upid(1)).expect("listed");
        assert_eq!(e.exit, TaskExit::Error("disk missing".into()));
        let (lines, total) = s.read_log(&upid(1), 0, 10).expect("log");
        assert_eq!(total, 3);
        assert_eq!(record::line_text(&lines[1]), "step one");
        assert_eq!(record::line_text(&lines[2]), "TASK ERROR: disk missing");
    }

    #[test]
    fn a_task_running_when_the_daemon_died_ends_as_unexpected_exit() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = TaskStore::open(dir.path(), SMALL).expect("open");
        s.begin(&upid(1), "starting").expect("begin");
        drop(s); // the daemon dies
        let s = TaskStore::open(dir.path(), SMALL).expect("reopen");
        let e = s.finished_entry(&upid(1)).expect("listed");
        assert_eq!(e.exit, TaskExit::Error(record::UNEXPECTED_EXIT.into()));
        let (lines, _) = s.read_log(&upid(1), 0, 10).expect("log");
        assert_eq!(
            lines.last().map(|l| record::line_text(l)),
            Some("TASK ERROR: unexpected daemon exit")
        );
    }

    #[test]
    fn a_corrupt_index_is_rebuilt_from_the_logs() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = TaskStore::open(dir.path(), SMALL).expect("open");
        for n in 1..=2 {
            s.begin(&upid(n), "starting").expect("begin");
            s.finish(&upid(n), TaskExit::Ok).expect("finish");
        }
        drop(s);
        fs::write(
            dir.path().join(INDEX_FILE),
            b"\xff\xfe garbage\nUPID:broken 1 OK\n",
        )
        .expect("corrupt");
        let s = TaskStore::open(dir.path(), SMALL).expect("reopen rebuilds");
        assert_eq!(s.finished().len(), 2);
        assert!(s.finished().iter().all(|f| f.entry.exit == TaskExit::Ok));
        let index = fs::read_to_string(dir.path().join(INDEX_FILE)).expect("index");
        assert_eq!(record::parse_index(&index).expect("rewritten").len(), 2);
    }

    #[test]
    fn the_store_is_bounded_by_count_and_a_task_log_by_bytes() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = TaskStore::open(dir.path(), SMALL).expect("open");
        for n in 1..=5 {
            s.begin(&upid(n), "starting").expect("begin");
            s.finish(&upid(n), TaskExit::Ok).expect("finish");
        }
        let kept: Vec<u64> = s.finished().iter().map(|f| f.entry.upid.pstart).collect();
        assert_eq!(kept, vec![3, 4, 5]);
        assert!(!dir.path().join(LOG_DIR).join(upid(1).to_string()).exists());
        // One chatty task stops growing at its limit.
        let mut written = s.begin(&upid(9), "starting").expect("begin");
        for _ in 0..1000 {
            written += s.log(&upid(9), written, "progress 50%").expect("log");
        }
        assert!(written <= SMALL.max_task_log_bytes + 64, "{written}");
    }
}
