//! Tasks: every long operation of this node (guest create/start/stop/migrate/destroy,
//! HA actions, join) runs as a task with a UPID, a status and a timestamped log, kept in
//! the state dir (`store`) and stoppable while it runs.

pub mod caller;
mod handle;
pub mod record;
pub mod remote;
pub mod store;
pub mod upid;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brigade_api::tasks::{MigrationProgress, MigrationResult, TaskLogLine, TaskState, TaskStatus};

use crate::error::NodeError;
pub use handle::TaskHandle;
pub use record::TaskExit;
pub use store::{Limits, TaskStore, DEFAULT_LIMITS};
pub use upid::Upid;

/// The state dir's directory of task files.
pub const TASKS_DIR: &str = "tasks";
/// Finished migrations whose measurements are kept for polling.
const RESULTS_KEPT: usize = 256;
/// At most one progress line per this interval in a task's log.
pub const PROGRESS_LOG_INTERVAL: Duration = Duration::from_secs(1);
/// What a stopped task ends with.
pub const STOPPED_MESSAGE: &str = "task stopped by user";

/// A running task.
struct Running {
    upid: Upid,
    stop: Arc<tokio::sync::Notify>,
    stopping: bool,
    progress: Option<MigrationProgress>,
    log_bytes: u64,
    last_progress_line: Option<(Instant, String)>,
}

struct Inner {
    node: String,
    pid: u32,
    seq: AtomicU64,
    store: Mutex<TaskStore>,
    running: Mutex<HashMap<String, Running>>,
    results: Mutex<VecDeque<(String, MigrationResult)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The tasks of this node.
#[derive(Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

/// Which tasks a list shows.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub running_only: bool,
    pub vmid: Option<u32>,
    pub limit: Option<usize>,
}

fn status_of(upid: &Upid, exit: Option<(&TaskExit, u64)>) -> TaskStatus {
    TaskStatus {
        upid: upid.to_string(),
        node: upid.node.clone(),
        kind: upid.kind.clone(),
        vmid: upid.vmid(),
        id: upid.id.clone(),
        user: upid.user.clone(),
        starttime: upid.starttime,
        endtime: exit.map(|(_, t)| t),
        status: match exit {
            None => TaskState::Running,
            Some((TaskExit::Ok, _)) => TaskState::Ok,
            Some((TaskExit::Error(_), _)) => TaskState::Error,
        },
        exitstatus: exit.map(|(e, _)| e.text().to_string()),
        error: match exit {
            Some((TaskExit::Error(m), _)) => Some(m.clone()),
            _ => None,
        },
        progress: None,
        result: None,
    }
}

fn parse_upid(text: &str) -> Result<Upid, NodeError> {
    text.parse()
        .map_err(|e: upid::UpidError| NodeError::Invalid(e.to_string()))
}

impl Tasks {
    /// Opens the task store of node `node` in `dir`.
    pub fn open(node: &str, dir: &Path, limits: Limits) -> std::io::Result<Tasks> {
        let store = TaskStore::open(dir, limits)?;
        Ok(Tasks {
            inner: Arc::new(Inner {
                node: node.to_string(),
                pid: std::process::id(),
                seq: AtomicU64::new(0),
                store: Mutex::new(store),
                running: Mutex::new(HashMap::new()),
                results: Mutex::new(VecDeque::new()),
            }),
        })
    }

    /// Starts a task of type `kind` on `id` for `user`; its first log line is `first`.
    pub fn begin(
        &self,
        kind: &str,
        id: &str,
        user: &str,
        first: &str,
    ) -> Result<TaskHandle, NodeError> {
        let inner = &self.inner;
        let upid = Upid {
            node: inner.node.clone(),
            pid: inner.pid,
            pstart: inner.seq.fetch_add(1, Ordering::Relaxed) + 1,
            starttime: now_secs(),
            kind: kind.to_string(),
            id: id.to_string(),
            user: user.to_string(),
        };
        upid.validate()
            .map_err(|why| NodeError::Invalid(format!("cannot start task {upid}: {why}")))?;
        let bytes = lock(&inner.store)
            .begin(&upid, first)
            .map_err(NodeError::failed(format!(
                "cannot write the log of task {upid}"
            )))?;
        let stop = Arc::new(tokio::sync::Notify::new());
        let text = upid.to_string();
        lock(&inner.running).insert(
            text.clone(),
            Running {
                upid: upid.clone(),
                stop: stop.clone(),
                stopping: false,
                progress: None,
                log_bytes: bytes,
                last_progress_line: None,
            },
        );
        tracing::info!(upid = %text, "task started: {first}");
        Ok(TaskHandle {
            inner: inner.clone(),
            upid,
            text,
            stop,
        })
    }

    /// Runs `work` as a task (spawned, so it ends even if the caller goes away) and
    /// waits for it; a stop ends it with [`STOPPED_MESSAGE`].
    pub async fn run<T, F>(
        &self,
        kind: &str,
        id: &str,
        first: &str,
        work: impl FnOnce(TaskHandle) -> F,
    ) -> (String, Result<T, NodeError>)
    where
        F: Future<Output = Result<T, NodeError>> + Send + 'static,
        T: Send + 'static,
    {
        let task = match self.begin(kind, id, &caller::current(), first) {
            Ok(t) => t,
            Err(e) => return (String::new(), Err(e)),
        };
        let upid = task.text.clone();
        let fut = work(task.clone());
        let joined = tokio::spawn(async move {
            let out = tokio::select! {
                out = fut => out,
                () = task.stop.notified() => Err(NodeError::Conflict(STOPPED_MESSAGE.into())),
            };
            task.finish(out.as_ref().map(|_| ()));
            out
        })
        .await;
        let out = joined.unwrap_or_else(|e| Err(NodeError::failed(format!("task {upid}"))(e)));
        (upid, out)
    }

    /// A task's status: running here, or finished and still kept.
    pub fn status(&self, upid: &str) -> Result<TaskStatus, NodeError> {
        let u = parse_upid(upid)?;
        let mut s = if let Some(r) = lock(&self.inner.running).get(upid) {
            let mut s = status_of(&r.upid, None);
            s.progress.clone_from(&r.progress);
            s
        } else {
            let store = lock(&self.inner.store);
            let e = store.finished_entry(&u).ok_or_else(|| {
                NodeError::NotFound(format!("no task {upid} on node {}", self.inner.node))
            })?;
            status_of(&e.upid, Some((&e.exit, e.endtime)))
        };
        s.result = lock(&self.inner.results)
            .iter()
            .find(|(k, _)| k == upid)
            .map(|(_, r)| r.clone());
        Ok(s)
    }

    /// The tasks here, running first, then the finished ones newest first.
    pub fn list(&self, f: &TaskFilter) -> Vec<TaskStatus> {
        let mut out: Vec<TaskStatus> = lock(&self.inner.running)
            .values()
            .map(|r| {
                let mut s = status_of(&r.upid, None);
                s.progress.clone_from(&r.progress);
                s
            })
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.starttime));
        if !f.running_only {
            let store = lock(&self.inner.store);
            out.extend(
                store
                    .finished()
                    .iter()
                    .rev()
                    .map(|x| status_of(&x.entry.upid, Some((&x.entry.exit, x.entry.endtime)))),
            );
        }
        out.retain(|s| f.vmid.is_none() || s.vmid == f.vmid);
        if let Some(n) = f.limit {
            out.truncate(n);
        }
        out
    }

    /// Lines `start..start+limit` of a task's log.
    pub fn log(
        &self,
        upid: &str,
        start: usize,
        limit: usize,
    ) -> Result<Vec<TaskLogLine>, NodeError> {
        let u = parse_upid(upid)?;
        if u.node != self.inner.node {
            return Err(NodeError::NotFound(format!(
                "task {upid} is not of node {}",
                self.inner.node
            )));
        }
        let (lines, _) = lock(&self.inner.store)
            .read_log(&u, start, limit)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    NodeError::NotFound(format!("no task {upid} on node {}", self.inner.node))
                }
                _ => NodeError::internal(e),
            })?;
        Ok(lines
            .into_iter()
            .enumerate()
            .map(|(i, t)| TaskLogLine {
                n: (start + i + 1) as u64,
                t,
            })
            .collect())
    }

    /// Asks a running task to stop.
    pub fn stop(&self, upid: &str) -> Result<(), NodeError> {
        let u = parse_upid(upid)?;
        let mut running = lock(&self.inner.running);
        if let Some(r) = running.get_mut(upid) {
            if !r.stopping {
                r.stopping = true;
                r.stop.notify_one();
            }
            return Ok(());
        }
        drop(running);
        if lock(&self.inner.store).finished_entry(&u).is_some() {
            Err(NodeError::Conflict(format!(
                "task {upid} has already ended"
            )))
        } else {
            Err(NodeError::NotFound(format!(
                "no task {upid} on node {}",
                self.inner.node
            )))
        }
    }

    /// Whether a task on guest `vmid` is running here.
    pub fn running_for(&self, vmid: u32) -> bool {
        lock(&self.inner.running)
            .values()
            .any(|r| r.upid.vmid() == Some(vmid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(dir: &Path) -> Tasks {
        Tasks::open("n1", dir, DEFAULT_LIMITS).expect("open")
    }

    #[tokio::test]
    async fn a_task_runs_logs_and_ends_with_its_status() {
        let dir = tempfile::tempdir().expect("tmp");
        let t = tasks(dir.path());
        let (upid, out) = caller::as_caller(
            "alice@pve".into(),
            t.run("qmstart", "100", "starting VM 100", |h| async move {
                h.log("step one");
                Ok::<_, NodeError>(7)
            }),
        )
        .await;
        assert_eq!(out.expect("ok"), 7);
        let s = t.status(&upid).expect("status");
        assert_eq!(
            (
                s.status,
                s.kind.as_str(),
                s.vmid,
                s.user.as_str(),
                s.exitstatus.as_deref()
            ),
            (TaskState::Ok, "qmstart", Some(100), "alice@pve", Some("OK"))
        );
        let log = t.log(&upid, 0, 10).expect("log");
        let texts: Vec<&str> = log.iter().map(|l| record::line_text(&l.t)).collect();
        assert_eq!(texts, vec!["starting VM 100", "step one", "TASK OK"]);
        assert_eq!(log[0].n, 1);
        let (upid2, out) = t
            .run("qmstart", "101", "starting VM 101", |_| async move {
                Err::<(), _>(NodeError::Conflict("disk missing".into()))
            })
            .await;
        assert!(out.is_err());
        let s = t.status(&upid2).expect("status");
        assert_eq!(s.status, TaskState::Error);
        assert_eq!(s.error.as_deref(), Some("disk missing"));
        assert_eq!(s.user, caller::ROOT_USER);
        let listed: Vec<String> = t
            .list(&TaskFilter::default())
            .into_iter()
            .map(|s| s.upid)
            .collect();
        assert_eq!(listed, vec![upid2.clone(), upid.clone()]);
        let for_100 = t.list(&TaskFilter {
            vmid: Some(100),
            ..TaskFilter::default()
        });
        assert_eq!(for_100.len(), 1);
    }

    #[tokio::test]
    async fn a_running_task_can_be_stopped() {
        let dir = tempfile::tempdir().expect("tmp");
        let t = tasks(dir.path());
        let t2 = t.clone();
        let run = tokio::spawn(async move {
            t2.run("qmshutdown", "100", "shutting down", |_| async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, NodeError>(())
            })
            .await
        });
        let running = brigade_core::poll_until(
            Instant::now() + Duration::from_secs(5),
            Duration::from_millis(10),
            || {
                let l = t.list(&TaskFilter {
                    running_only: true,
                    ..TaskFilter::default()
                });
                std::future::ready(l.first().map(|s| s.upid.clone()))
            },
        )
        .await
        .expect("running");
        assert!(t.running_for(100));
        t.stop(&running).expect("stop");
        let (upid, out) = run.await.expect("join");
        assert_eq!(upid, running);
        assert!(out
            .expect_err("stopped")
            .to_string()
            .contains(STOPPED_MESSAGE));
        let s = t.status(&upid).expect("status");
        assert_eq!(s.error.as_deref(), Some(STOPPED_MESSAGE));
        assert!(t
            .stop(&upid)
            .expect_err("ended")
            .to_string()
            .contains("already ended"));
        assert!(t.stop("UPID:bad").is_err());
    }
}
