//! Tasks on the wire: long-running operations with a UPID, their status, log lines,
//! migration progress and what a migration measured.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Still under way.
    Running,
    /// Finished successfully.
    Ok,
    /// Finished with an error.
    Error,
}

impl TaskState {
    /// The state's name on the wire (`running`, `ok`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Ok => "ok",
            TaskState::Error => "error",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for TaskState {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TaskState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Migration progress, as QEMU reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MigrationProgress {
    /// QEMU's migration status (setup, active, completed, ...).
    pub status: String,
    /// Bytes sent so far.
    pub transferred_bytes: u64,
    /// Bytes left to send.
    pub remaining_bytes: u64,
    /// The guest's memory in bytes.
    pub total_bytes: u64,
    /// Current speed in Mbit/s.
    pub mbps: f64,
    /// QEMU's estimate of the downtime.
    pub expected_downtime_ms: Option<u64>,
}

/// What a finished migration measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MigrationResult {
    /// The guest.
    pub vmid: u32,
    /// The node it left.
    pub source: String,
    /// The node it moved to.
    pub target: String,
    /// Whether it moved live.
    pub online: bool,
    /// Command to config moved, as brigade measured it.
    pub total_time_ms: u64,
    /// QEMU's own total time (live migration only).
    pub qemu_total_time_ms: Option<u64>,
    /// QEMU's measured downtime (live migration only).
    pub downtime_ms: Option<u64>,
    /// From the source's migration completing to the target running the guest: the
    /// handover of its config through Raft and the resume (live migration only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover_ms: Option<u64>,
    /// Bytes sent (memory, or the copied volumes).
    pub transferred_bytes: u64,
    /// Local volumes copied to the target (offline migration).
    pub copied_volumes: Vec<String>,
}

/// A long-running operation (Proxmox's UPID tasks): one row of a task list, or a
/// task's status.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskStatus {
    /// Its id: `UPID:node:pid:pstart:starttime:type:id:user:`.
    pub upid: String,
    /// The node running it.
    pub node: String,
    /// Its type (`qmstart`, `vzmigrate`, `hastart`, `clusterjoin`, ...).
    pub kind: String,
    /// The guest it works on, if any.
    #[serde(default)]
    pub vmid: Option<u32>,
    /// What it works on (the guest's id, or empty), as the UPID names it.
    #[serde(default)]
    pub id: String,
    /// Who started it (an Authid).
    #[serde(default)]
    pub user: String,
    /// Unix seconds when it started.
    #[serde(default)]
    pub starttime: u64,
    /// Unix seconds when it ended.
    #[serde(default)]
    pub endtime: Option<u64>,
    /// running, ok or error.
    pub status: TaskState,
    /// Proxmox's exitstatus once ended: `OK`, or the error message.
    #[serde(default)]
    pub exitstatus: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// How far it got.
    #[serde(default)]
    pub progress: Option<MigrationProgress>,
    /// What it measured, once done.
    #[serde(default)]
    pub result: Option<MigrationResult>,
}

/// One line of a task's log (Proxmox's `{n, t}`): its number from 1, and its text,
/// which starts with the UTC time it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskLogLine {
    /// The line's number, from 1.
    pub n: u64,
    /// The line: its UTC time, a space, the text.
    pub t: String,
}

/// Whether one node answered for `/cluster/tasks`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeTasksState {
    /// The member.
    pub node: String,
    /// `ok`, or `unreachable`.
    pub state: String,
    /// Why it could not be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `/cluster/tasks`: the tasks of every member that answered, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterTasks {
    /// The tasks, running first, then newest first.
    pub tasks: Vec<TaskStatus>,
    /// Each member, and whether it answered.
    pub nodes: Vec<NodeTasksState>,
}

/// A task question forwarded to the node that runs the task (`/node/tasks` over mTLS).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TaskRequest {
    /// The node's tasks, running first, then newest first.
    List {
        /// Only the running ones.
        #[serde(default)]
        running_only: bool,
        /// Only those on this guest.
        #[serde(default)]
        vmid: Option<u32>,
        /// At most this many.
        #[serde(default)]
        limit: Option<usize>,
    },
    /// One task's status.
    Status {
        /// The task.
        upid: String,
    },
    /// Lines `start..start+limit` of a task's log.
    Log {
        /// The task.
        upid: String,
        /// The first line, from 0.
        start: usize,
        /// How many lines.
        limit: usize,
    },
    /// Stop a running task.
    Stop {
        /// The task.
        upid: String,
    },
}

/// The answer to starting a task.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskStarted {
    /// The task's id.
    pub upid: String,
    /// The node running it (ask it for the status).
    pub node: String,
}

/// The answer to `DELETE /nodes/{node}/tasks/{upid}`: the task was asked to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskStopping {
    /// The task.
    pub upid: String,
    /// Always true: the stop was requested (the task ends at its next stop point).
    pub stopping: bool,
}

/// Proxmox's booleans in a query: `1`/`0` or `true`/`false`.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "expected 1, 0, true or false, not {other:?}"
        ))),
    }
}

/// `GET /nodes/{node}/tasks` and `GET /cluster/tasks`: which tasks.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskListQuery {
    /// Only the running ones (`1`/`0` or `true`/`false`).
    #[serde(default, deserialize_with = "flag")]
    pub running: bool,
    /// Only those on this guest.
    #[serde(default)]
    pub vmid: Option<u32>,
    /// At most this many.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `GET /nodes/{node}/tasks/{upid}/log`: which lines.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskLogQuery {
    /// The first line, from 0 (default 0).
    #[serde(default)]
    pub start: Option<usize>,
    /// How many lines (default 50, at most 100000).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_states_are_the_strings_they_were() {
        for (s, text) in [
            (TaskState::Running, "running"),
            (TaskState::Ok, "ok"),
            (TaskState::Error, "error"),
        ] {
            assert_eq!(
                serde_json::to_string(&s).expect("encode"),
                format!("\"{text}\"")
            );
            assert!(s == text);
        }
        let t: TaskStatus = serde_json::from_str(
            r#"{"upid":"U","node":"n1","kind":"qmigrate","vmid":100,"status":"error","error":"boom","progress":null,"result":null}"#,
        )
        .expect("decode");
        assert_eq!(t.status, TaskState::Error);
    }
}
