//! The simulator's model of one node and of a replica of the configuration tree.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{RequestState, ShutdownPolicy};
use crate::crs::CrsSettings;
use crate::lease::Lease;
use crate::rules::RulesConfig;
use crate::status::{LrmStatus, ManagerStatus};
use crate::{GroupsConfig, ResourcesConfig, ServiceId, Timing};

/// What the simulated configuration tree holds: the committed state, or what one
/// node last applied of it (stale while the node is cut off).
#[derive(Debug, Clone, Default)]
pub struct View {
    pub resources: ResourcesConfig,
    pub groups: GroupsConfig,
    /// The node whose directory holds each guest's config (HA-managed or not).
    pub locations: BTreeMap<ServiceId, String>,
    pub memory: BTreeMap<ServiceId, u64>,
    /// Configured CPUs of each guest (1 when not given).
    pub cpus: BTreeMap<ServiceId, f64>,
    /// The bridges each guest's NICs name: (config key, bridge).
    pub guest_bridges: BTreeMap<ServiceId, Vec<(String, String)>>,
    pub rules: RulesConfig,
    pub crs: CrsSettings,
    pub maintenance: BTreeSet<String>,
    pub migrations: BTreeMap<ServiceId, String>,
    pub timing: Timing,
    pub policy: ShutdownPolicy,
    pub manager: ManagerStatus,
    /// Each node's last committed lrm_status.
    pub lrm: BTreeMap<String, LrmStatus>,
}

impl View {
    /// The services HA manages in this view (ignored ones are left alone).
    pub fn ha_set(&self) -> BTreeSet<ServiceId> {
        self.resources
            .resources
            .values()
            .filter(|r| r.state != RequestState::Ignored)
            .map(|r| r.sid)
            .collect()
    }
}

/// A node's daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    Running,
    /// Stopped cleanly (its last lrm_status says how).
    Stopped,
    /// SIGSTOPped or dead without a clean stop.
    Hung,
}

/// One simulated node.
#[derive(Debug, Clone)]
pub struct SimNode {
    pub name: String,
    pub powered: bool,
    pub connected: bool,
    pub daemon: Daemon,
    /// The tree as this node last applied it.
    pub view: View,
    /// Its own lease, counted on its own clock (virtual time).
    pub lease: Lease,
    /// Its renewals commit but it never hears back (the outcome is unknown to it).
    pub acks_lost: bool,
    /// The lrm_status this node would write next (mode, results).
    pub lrm: LrmStatus,
    pub done: BTreeMap<ServiceId, (u64, bool)>,
    /// Every guest whose process runs here, HA-managed or not.
    pub running: BTreeSet<ServiceId>,
    /// The watchdog kills the armed guests at this time unless fed a later deadline.
    pub watchdog_deadline: u64,
    /// Armed: when it fires it kills the HA guests of this node's own view.
    pub watchdog_armed: bool,
    /// A clean stop waiting for its guests to migrate away.
    pub draining: bool,
}

impl SimNode {
    pub fn new(name: &str, timing: Timing) -> SimNode {
        SimNode {
            name: name.to_string(),
            powered: true,
            connected: true,
            daemon: Daemon::Running,
            view: View {
                timing,
                ..View::default()
            },
            lease: Lease::default(),
            acks_lost: false,
            lrm: LrmStatus::default(),
            done: BTreeMap::new(),
            running: BTreeSet::new(),
            watchdog_deadline: 0,
            watchdog_armed: false,
            draining: false,
        }
    }

    /// The HA guests running here, by this node's own view.
    pub fn ha_running(&self) -> BTreeSet<ServiceId> {
        let ha = self.view.ha_set();
        self.running.intersection(&ha).copied().collect()
    }

    /// What its fence kills: the HA guests of its own view, and whatever its last
    /// committed renewal promised (a set only shrinks once a renewal saying so commits).
    pub fn fence_set(&self) -> BTreeSet<ServiceId> {
        self.view
            .ha_set()
            .union(self.lease.covers())
            .copied()
            .collect()
    }

    /// Kills the guests of its fence set; returns them.
    pub fn kill_ha_guests(&mut self) -> Vec<ServiceId> {
        let set = self.fence_set();
        let killed: Vec<ServiceId> = self.running.intersection(&set).copied().collect();
        for s in &killed {
            self.running.remove(s);
        }
        killed
    }

    /// A power cut: every process dies; the disk (its view) stays.
    pub fn power_off(&mut self) {
        self.powered = false;
        self.running.clear();
        self.watchdog_armed = false;
        self.daemon = Daemon::Hung;
        self.lease = Lease::default();
        self.lrm = LrmStatus::default();
        self.done.clear();
        self.draining = false;
    }
}
