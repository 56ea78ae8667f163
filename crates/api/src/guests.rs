//! Guests on the wire: the operations of `vm` and `ct` (run on the guest's node, forwarded
//! there from any node), a guest's row, status and config, and where it lives.

use std::collections::BTreeMap;
use std::fmt;

use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use serde::{Deserialize, Serialize};

pub use crate::migrate::{MigrateRequest, MigrateTargets};

/// A guest operation, run on the node that holds the guest (forwarded there over mTLS).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum GuestRequest {
    /// Create a guest here. `params` are config keys; a disk given as
    /// `STORAGE:SIZE` (e.g. `shared:1`) allocates a new volume, as `qm create`.
    Create {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID, unique in the cluster.
        vmid: VmId,
        /// Its config keys.
        params: BTreeMap<String, String>,
        /// Containers: the directory to copy the root file system from.
        #[serde(default)]
        ostemplate: Option<String>,
        /// Start it once created.
        #[serde(default)]
        start: bool,
    },
    /// Start a guest.
    Start {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
    },
    /// Stop a guest at once (kill).
    Stop {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
    },
    /// Ask a guest to shut down.
    Shutdown {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
        /// How long to wait for it.
        #[serde(default)]
        timeout_secs: Option<u64>,
        /// Stop it if it does not shut down in time.
        #[serde(default)]
        force_stop: bool,
    },
    /// Restart a guest.
    Reboot {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
    },
    /// Remove a stopped guest and its volumes.
    Destroy {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
    },
    /// A guest's live status.
    Status {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
    },
    /// A guest's config.
    Config {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
    },
    /// Change a guest's config.
    SetConfig {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
        /// Keys to set.
        #[serde(default)]
        set: BTreeMap<String, String>,
        /// Keys to remove.
        #[serde(default)]
        delete: Vec<String>,
        /// The config version read before (compare-and-swap).
        #[serde(default)]
        digest: Option<u64>,
    },
    /// Move a guest to another node (a task).
    Migrate {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
        /// The node to move it to.
        target: String,
        /// Live, with its memory (a running VM on shared storage).
        #[serde(default)]
        online: bool,
    },
    /// Which nodes can take the guest now, and why the others cannot.
    MigrateTargets {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
    },
    /// A task's status, on the node that runs it.
    Task {
        /// The task's id.
        upid: String,
    },
    /// The console output the guest wrote since it started here (last `tail_bytes`).
    ConsoleLog {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
        /// How much of the end to return.
        #[serde(default)]
        tail_bytes: Option<u64>,
    },
    /// Runtime state of every guest running here.
    LocalStates,
    /// Can this node receive a guest needing this memory and these storages?
    Precheck {
        /// Memory the guest needs (0: not checked, an offline move).
        memory_mib: u64,
        /// Storages its volumes are on.
        storages: Vec<String>,
    },
    /// Start QEMU waiting for an incoming live migration.
    PrepareIncoming {
        /// The guest's VMID.
        vmid: VmId,
        /// Its config text.
        config: String,
        /// Plain TCP instead of the mTLS tunnel (`migration: insecure`).
        #[serde(default)]
        insecure: bool,
    },
    /// The QMP run state of an incoming guest.
    IncomingStatus {
        /// The guest's VMID.
        vmid: VmId,
    },
    /// Stop an incoming guest whose migration failed (never one this node owns).
    AbortIncoming {
        /// The guest's VMID.
        vmid: VmId,
    },
    /// Run an incoming guest whose config was handed over to this node.
    ResumeIncoming {
        /// The guest's VMID.
        vmid: VmId,
    },
    /// Free space of every storage on this node.
    StorageStatus,
    /// This node's graph history of one timeframe (`hour`..`year`, `AVERAGE` or `MAX`).
    NodeRrd {
        /// `hour`, `day`, `week`, `month` or `year`.
        timeframe: String,
        /// `AVERAGE` or `MAX`.
        cf: String,
    },
    /// A guest's graph history, on the node that runs it.
    GuestRrd {
        /// VM or container.
        kind: GuestKind,
        /// Its VMID.
        vmid: VmId,
        /// `hour`, `day`, `week`, `month` or `year`.
        timeframe: String,
        /// `AVERAGE` or `MAX`.
        cf: String,
    },
    /// A backup operation: vzdump, list, restore, verify, prune.
    Backup {
        /// What to do.
        backup: crate::backup::BackupOp,
    },
}

/// Whether a guest runs, as its node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuestState {
    /// Its process runs on its node.
    Running,
    /// It does not run.
    Stopped,
    /// Its node is offline: nobody can tell.
    Unknown,
}

impl GuestState {
    /// The state's name on the wire (`running`, `stopped`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            GuestState::Running => "running",
            GuestState::Stopped => "stopped",
            GuestState::Unknown => "unknown",
        }
    }

    /// Running if `running`, else stopped.
    pub fn of(running: bool) -> GuestState {
        if running {
            GuestState::Running
        } else {
            GuestState::Stopped
        }
    }
}

impl fmt::Display for GuestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for GuestState {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for GuestState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One guest as `vm list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GuestRow {
    /// Its VMID.
    pub vmid: u32,
    /// VM (`qemu`) or container (`lxc`).
    #[serde(rename = "type")]
    #[schema(value_type = crate::schema::GuestKindSchema)]
    pub kind: GuestKind,
    /// The node whose directory holds its config.
    pub node: String,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// running, stopped, or unknown (its node is offline).
    pub status: GuestState,
    /// Its memory in MiB.
    pub memory_mib: u64,
    /// Its config lock (`migrate`, `backup`, ...), if any.
    pub lock: Option<String>,
}

/// A guest's live status (`vm status`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GuestStatus {
    /// Its VMID.
    pub vmid: u32,
    /// VM (`qemu`) or container (`lxc`).
    #[serde(rename = "type")]
    #[schema(value_type = crate::schema::GuestKindSchema)]
    pub kind: GuestKind,
    /// The node it is on.
    pub node: String,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// running or stopped.
    pub status: GuestState,
    /// QEMU's own run state (running, paused, inmigrate, postmigrate).
    pub qmp_status: Option<String>,
    /// The pid of its process while it runs.
    pub pid: Option<i32>,
    /// Its memory in MiB.
    pub memory_mib: u64,
    /// Its virtual CPUs.
    pub cpus: u32,
    /// Its config lock, if any.
    pub lock: Option<String>,
    /// kvm or tcg, and why.
    pub accel: Option<String>,
    /// Why that accelerator was chosen.
    pub accel_reason: Option<String>,
    /// Seconds since it was started on this node.
    pub uptime_secs: Option<u64>,
    /// The task that answered with this status (start, stop, shutdown, reboot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upid: Option<String>,
}

/// A guest's config (`vm config`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GuestConfigView {
    /// Its VMID.
    pub vmid: u32,
    /// The node it is on.
    pub node: String,
    /// The config file's version: pass it back as `digest` for a safe update.
    pub digest: u64,
    /// The config file as written.
    pub text: String,
    /// Its keys and values in order, each a `[key, value]` pair.
    #[schema(value_type = Vec<Vec<String>>)]
    pub config: Vec<(String, String)>,
}

/// Where a guest lives (`GET /cluster/guests/{vmid}`). Its fields are in the order
/// of the JSON object (sorted keys).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GuestLocation {
    /// The node whose directory holds its config.
    pub node: String,
    /// VM (`qemu`) or container (`lxc`).
    #[serde(rename = "type")]
    #[schema(value_type = crate::schema::GuestKindSchema)]
    pub kind: GuestKind,
    /// Its VMID.
    pub vmid: u32,
}

/// `POST /nodes/{node}/{qemu,lxc}`: create a guest on that node.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGuestRequest {
    /// Its VMID, unique in the cluster.
    #[schema(value_type = crate::schema::VmIdSchema)]
    pub vmid: VmId,
    /// Its config keys; a disk given as `STORAGE:SIZE` (e.g. `shared:1`) allocates a
    /// new volume, as `qm create`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Containers: the directory to copy the root file system from.
    #[serde(default)]
    pub ostemplate: Option<String>,
    /// Start it once created.
    #[serde(default)]
    pub start: bool,
}

/// The answer to a create: the config written.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GuestCreated {
    /// Its VMID.
    pub vmid: u32,
    /// The node it was created on.
    pub node: String,
    /// Its config file as written.
    pub config: String,
}

/// The answer to a destroy.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GuestDestroyed {
    /// Its VMID.
    pub vmid: u32,
    /// Always true: it and its volumes are gone.
    pub destroyed: bool,
}

/// The longest a shutdown may wait for its guest, in seconds: less than a forwarded guest
/// request may take (120 s), so that the answer always arrives.
pub const MAX_SHUTDOWN_TIMEOUT_SECS: u64 = 100;

/// `POST .../status/{start,stop,shutdown,reboot}`: the options of `shutdown` (the body
/// is optional; empty means the defaults; the other actions take none).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerRequest {
    /// How long to wait for the guest to shut down, in seconds (at most
    /// [`MAX_SHUTDOWN_TIMEOUT_SECS`]; default 60 for a VM, 30 for a container).
    #[serde(default)]
    #[schema(maximum = 100)]
    pub timeout: Option<u64>,
    /// Stop it if it does not shut down in time.
    #[serde(default, rename = "forceStop")]
    pub force_stop: bool,
}

impl PowerRequest {
    /// Why the options cannot be honoured, if they cannot (a timeout over the limit).
    pub fn check(&self) -> Result<(), TimeoutOverLimit> {
        match self.timeout {
            Some(t) if t > MAX_SHUTDOWN_TIMEOUT_SECS => Err(TimeoutOverLimit { timeout: t }),
            _ => Ok(()),
        }
    }
}

/// A shutdown timeout over [`MAX_SHUTDOWN_TIMEOUT_SECS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timeout: {timeout} s is over the limit of {MAX_SHUTDOWN_TIMEOUT_SECS} s (use stop to end a guest that ignores shutdown)")]
pub struct TimeoutOverLimit {
    /// The timeout asked for, in seconds.
    pub timeout: u64,
}

/// `PUT .../config`: change a guest's config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetConfigRequest {
    /// Keys to set.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Keys to remove.
    #[serde(default)]
    pub delete: Vec<String>,
    /// The config version read before (compare-and-swap).
    #[serde(default)]
    pub digest: Option<u64>,
}

/// `GET .../console-log?tail=N`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsoleLogQuery {
    /// How many bytes of the end to return (default: all the node kept).
    #[serde(default)]
    pub tail: Option<u64>,
}

/// What a guest printed on its console since it started on its node.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleLog {
    /// Its VMID.
    pub vmid: u32,
    /// The node it runs on.
    pub node: String,
    /// The console output (lossy UTF-8).
    pub output: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_the_object_with_sorted_keys_it_always_was() {
        let l = GuestLocation {
            node: "n1".into(),
            kind: GuestKind::Qemu,
            vmid: 100,
        };
        assert_eq!(
            serde_json::to_string(&l).expect("encode"),
            r#"{"node":"n1","type":"qemu","vmid":100}"#
        );
    }

    #[test]
    fn a_shutdown_timeout_over_the_limit_is_refused_with_the_limit() {
        let within = PowerRequest {
            timeout: Some(MAX_SHUTDOWN_TIMEOUT_SECS),
            force_stop: false,
        };
        assert!(within.check().is_ok());
        assert!(PowerRequest::default().check().is_ok());
        let over = PowerRequest {
            timeout: Some(u64::MAX),
            force_stop: true,
        };
        let e = over.check().expect_err("over the limit").to_string();
        assert!(e.contains("over the limit of 100 s"), "{e}");
    }

    #[test]
    fn guest_states_are_the_strings_they_were() {
        for (s, text) in [
            (GuestState::Running, "running"),
            (GuestState::Stopped, "stopped"),
            (GuestState::Unknown, "unknown"),
        ] {
            assert_eq!(
                serde_json::to_string(&s).expect("encode"),
                format!("\"{text}\"")
            );
            assert!(s == text);
            assert_eq!(format!("{s}"), text);
        }
        assert_eq!(GuestState::of(true), GuestState::Running);
    }
}
