//! Long-running guest operations (migrations) as tasks with a UPID, polled for progress.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::NodeError;
use brigade_api::tasks::{MigrationProgress, MigrationResult, TaskState, TaskStatus};

/// Finished tasks kept for polling.
const FINISHED_KEPT: usize = 256;

/// The tasks of this node, in memory.
#[derive(Default)]
pub struct Tasks {
    inner: Mutex<TasksInner>,
}

#[derive(Default)]
struct TasksInner {
    next: u64,
    tasks: HashMap<String, TaskStatus>,
    finished: Vec<String>,
}

impl Tasks {
    fn with<R>(&self, f: impl FnOnce(&mut TasksInner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Registers a running task and returns its UPID (Proxmox's shape).
    pub fn begin(&self, node: &str, kind: &str, vmid: u32) -> String {
        self.with(|t| {
            t.next += 1;
            let upid = format!(
                "UPID:{node}:{:08X}:{:08X}:{kind}:{vmid}:root@pam:",
                std::process::id(),
                t.next
            );
            t.tasks.insert(
                upid.clone(),
                TaskStatus {
                    upid: upid.clone(),
                    node: node.to_string(),
                    kind: kind.to_string(),
                    vmid,
                    status: TaskState::Running,
                    error: None,
                    progress: None,
                    result: None,
                },
            );
            upid
        })
    }

    pub fn progress(&self, upid: &str, p: MigrationProgress) {
        self.with(|t| {
            if let Some(task) = t.tasks.get_mut(upid) {
                task.progress = Some(p);
            }
        });
    }

    pub fn finish(&self, upid: &str, outcome: Result<MigrationResult, NodeError>) {
        self.with(|t| {
            if let Some(task) = t.tasks.get_mut(upid) {
                match outcome {
                    Ok(r) => {
                        task.status = TaskState::Ok;
                        task.result = Some(r);
                    }
                    Err(e) => {
                        task.status = TaskState::Error;
                        task.error = Some(brigade_core::error::message_with_causes(&e));
                    }
                }
            }
            t.finished.push(upid.to_string());
            if t.finished.len() > FINISHED_KEPT {
                let old = t.finished.remove(0);
                t.tasks.remove(&old);
            }
        });
    }

    /// Whether a task of this guest is running here.
    pub fn running_for(&self, vmid: u32) -> bool {
        self.with(|t| {
            t.tasks
                .values()
                .any(|task| task.vmid == vmid && task.status == TaskState::Running)
        })
    }

    pub fn get(&self, upid: &str) -> Option<TaskStatus> {
        self.with(|t| t.tasks.get(upid).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_and_finish() {
        let t = Tasks::default();
        let id = t.begin("n1", "qmigrate", 100);
        assert!(id.starts_with("UPID:n1:"));
        assert_eq!(t.get(&id).expect("known").status, "running");
        t.finish(&id, Err(NodeError::internal("boom")));
        let s = t.get(&id).expect("kept");
        assert_eq!(
            (s.status.as_str(), s.error.as_deref()),
            ("error", Some("boom"))
        );
        assert!(t.get("UPID:nope").is_none());
    }
}
