//! Guest requests and answers: the API's bodies and what nodes send each other about guests.

use std::collections::BTreeMap;

use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use serde::{Deserialize, Serialize};

/// A guest operation, run on the node that holds the guest (forwarded there over mTLS).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum GuestRequest {
    /// Create a guest here. `params` are config keys; a disk given as
    /// `STORAGE:SIZE` (e.g. `shared:1`) allocates a new volume, as `qm create`.
    Create {
        kind: GuestKind,
        vmid: VmId,
        params: BTreeMap<String, String>,
        /// Containers: the directory to copy the root file system from.
        #[serde(default)]
        ostemplate: Option<String>,
        #[serde(default)]
        start: bool,
    },
    Start {
        kind: GuestKind,
        vmid: VmId,
    },
    Stop {
        kind: GuestKind,
        vmid: VmId,
    },
    Shutdown {
        kind: GuestKind,
        vmid: VmId,
        #[serde(default)]
        timeout_secs: Option<u64>,
        #[serde(default)]
        force_stop: bool,
    },
    Reboot {
        kind: GuestKind,
        vmid: VmId,
    },
    Destroy {
        kind: GuestKind,
        vmid: VmId,
    },
    Status {
        kind: GuestKind,
        vmid: VmId,
    },
    Config {
        kind: GuestKind,
        vmid: VmId,
    },
    SetConfig {
        kind: GuestKind,
        vmid: VmId,
        #[serde(default)]
        set: BTreeMap<String, String>,
        #[serde(default)]
        delete: Vec<String>,
        /// The config version read before (compare-and-swap).
        #[serde(default)]
        digest: Option<u64>,
    },
    Migrate {
        kind: GuestKind,
        vmid: VmId,
        target: String,
        #[serde(default)]
        online: bool,
    },
    Task {
        upid: String,
    },
    /// The console output the guest wrote since it started here (last `tail_bytes`).
    ConsoleLog {
        kind: GuestKind,
        vmid: VmId,
        #[serde(default)]
        tail_bytes: Option<u64>,
    },
    /// Runtime state of every guest running here.
    LocalStates,
    /// Can this node receive a guest needing this memory and these storages?
    Precheck {
        memory_mib: u64,
        storages: Vec<String>,
    },
    /// Start QEMU waiting for an incoming live migration.
    PrepareIncoming {
        vmid: VmId,
        config: String,
        #[serde(default)]
        insecure: bool,
    },
    /// The QMP run state of an incoming guest.
    IncomingStatus {
        vmid: VmId,
    },
    /// Stop an incoming guest whose migration failed (never one this node owns).
    AbortIncoming {
        vmid: VmId,
    },
    /// Run an incoming guest whose config was handed over to this node.
    ResumeIncoming {
        vmid: VmId,
    },
    /// Free space of every storage on this node.
    StorageStatus,
}

/// One guest as `vm list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GuestRow {
    pub vmid: u32,
    #[serde(rename = "type")]
    pub kind: GuestKind,
    pub node: String,
    pub name: Option<String>,
    /// running, stopped, or unknown (its node is offline).
    pub status: String,
    pub memory_mib: u64,
    pub lock: Option<String>,
}

/// A guest's live status (`vm status`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestStatus {
    pub vmid: u32,
    #[serde(rename = "type")]
    pub kind: GuestKind,
    pub node: String,
    pub name: Option<String>,
    pub status: String,
    /// QEMU's own run state (running, paused, inmigrate, postmigrate).
    pub qmp_status: Option<String>,
    pub pid: Option<i32>,
    pub memory_mib: u64,
    pub cpus: u32,
    pub lock: Option<String>,
    /// kvm or tcg, and why.
    pub accel: Option<String>,
    pub accel_reason: Option<String>,
    pub uptime_secs: Option<u64>,
}

/// A guest's config (`vm config`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestConfigView {
    pub vmid: u32,
    pub node: String,
    /// The config file's version: pass it back as `digest` for a safe update.
    pub digest: u64,
    pub text: String,
    pub config: Vec<(String, String)>,
}

/// Migration progress, as QEMU reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MigrationProgress {
    pub status: String,
    pub transferred_bytes: u64,
    pub remaining_bytes: u64,
    pub total_bytes: u64,
    pub mbps: f64,
    pub expected_downtime_ms: Option<u64>,
}

/// What a finished migration measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MigrationResult {
    pub vmid: u32,
    pub source: String,
    pub target: String,
    pub online: bool,
    /// Command to config moved, as brigade measured it.
    pub total_time_ms: u64,
    /// QEMU's own figures (live migration only).
    pub qemu_total_time_ms: Option<u64>,
    pub downtime_ms: Option<u64>,
    /// From the source's migration completing to the target running the guest: the
    /// handover of its config through Raft and the resume (live migration only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handover_ms: Option<u64>,
    pub transferred_bytes: u64,
    /// Local volumes copied to the target (offline migration).
    pub copied_volumes: Vec<String>,
}

/// A long-running operation (Proxmox's UPID tasks).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStatus {
    pub upid: String,
    pub node: String,
    pub kind: String,
    pub vmid: u32,
    /// running, ok or error.
    pub status: String,
    pub error: Option<String>,
    pub progress: Option<MigrationProgress>,
    pub result: Option<MigrationResult>,
}

/// The answer to starting a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStarted {
    pub upid: String,
    pub node: String,
}

/// One storage on one node (`storage status`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StorageStatusRow {
    pub storage: String,
    pub node: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub shared: bool,
    pub content: String,
    pub active: bool,
    pub total_bytes: u64,
    pub avail_bytes: u64,
    pub used_bytes: u64,
    pub error: Option<String>,
}

/// `POST /storage`: add a `dir` storage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageAddRequest {
    pub storage: String,
    #[serde(rename = "type", default = "default_storage_type")]
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub shared: bool,
    #[serde(default)]
    pub nodes: Option<String>,
}

fn default_storage_type() -> String {
    "dir".into()
}
