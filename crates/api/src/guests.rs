//! Guests on the wire: the operations of `vm` and `ct` (run on the guest's node, forwarded
//! there from any node), a guest's row, status and config, and where it lives.

use std::collections::BTreeMap;
use std::fmt;

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
}

/// Whether a guest runs, as its node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GuestRow {
    /// Its VMID.
    pub vmid: u32,
    /// VM (`qemu`) or container (`lxc`).
    #[serde(rename = "type")]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestStatus {
    /// Its VMID.
    pub vmid: u32,
    /// VM (`qemu`) or container (`lxc`).
    #[serde(rename = "type")]
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
}

/// A guest's config (`vm config`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestConfigView {
    /// Its VMID.
    pub vmid: u32,
    /// The node it is on.
    pub node: String,
    /// The config file's version: pass it back as `digest` for a safe update.
    pub digest: u64,
    /// The config file as written.
    pub text: String,
    /// Its keys and values in order.
    pub config: Vec<(String, String)>,
}

/// Where a guest lives (`GET /cluster/guests/{vmid}`). Its fields are in the order
/// of the JSON object (sorted keys).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestLocation {
    /// The node whose directory holds its config.
    pub node: String,
    /// VM (`qemu`) or container (`lxc`).
    #[serde(rename = "type")]
    pub kind: GuestKind,
    /// Its VMID.
    pub vmid: u32,
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
