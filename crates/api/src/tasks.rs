//! Tasks on the wire: long-running operations (migrations) with a UPID, their progress
//! and what they measured.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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

/// A long-running operation (Proxmox's UPID tasks).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStatus {
    /// Its id: `UPID:node:pid:counter:type:vmid:user:`.
    pub upid: String,
    /// The node running it.
    pub node: String,
    /// Its type (`qmigrate`, `vzmigrate`).
    pub kind: String,
    /// The guest it works on.
    pub vmid: u32,
    /// running, ok or error.
    pub status: TaskState,
    /// Why it failed.
    pub error: Option<String>,
    /// How far it got.
    pub progress: Option<MigrationProgress>,
    /// What it measured, once done.
    pub result: Option<MigrationResult>,
}

/// The answer to starting a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStarted {
    /// The task's id.
    pub upid: String,
    /// The node running it (ask it for the status).
    pub node: String,
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
