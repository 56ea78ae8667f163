//! The local resource manager: from the published manager status and what runs on
//! this node, the commands to carry out here. Pure; the daemon and the simulator run them.

use std::collections::{BTreeMap, BTreeSet};

use crate::status::{ManagerStatus, ServiceState};
use crate::ServiceId;

/// Everything one LRM step reads.
#[derive(Debug, Clone)]
pub struct LrmInput<'a> {
    pub node: &'a str,
    /// This node has had a renewal committed within fence_timeout (its own clock,
    /// from when it sent that renewal).
    pub lease_valid: bool,
    /// This node is quorate and its view is at least as new as its last renewal:
    /// only then may it start a guest.
    pub quorate: bool,
    pub manager: &'a ManagerStatus,
    /// HA guests whose processes run here.
    pub running: &'a BTreeSet<ServiceId>,
    /// Guest configs in this node's directory.
    pub configs_here: &'a BTreeSet<ServiceId>,
    /// The uid of the last command carried out for each service, and whether it succeeded.
    pub done: &'a BTreeMap<ServiceId, (u64, bool)>,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LrmCommand {
    /// The lease lapsed: kill every HA guest here at once.
    FenceAll,
    Start {
        sid: ServiceId,
        uid: u64,
    },
    Stop {
        sid: ServiceId,
        uid: u64,
    },
    /// Live migration (offline when the guest is not running).
    Migrate {
        sid: ServiceId,
        target: String,
        uid: u64,
    },
    /// Stop, move, start there.
    Relocate {
        sid: ServiceId,
        target: String,
        uid: u64,
    },
    /// Report that a command needed no action (already in the wanted state).
    Ack {
        sid: ServiceId,
        uid: u64,
    },
    /// An HA guest runs here but belongs elsewhere: kill it (never two copies).
    KillStray {
        sid: ServiceId,
    },
}

/// One LRM step.
pub fn step(input: &LrmInput) -> Vec<LrmCommand> {
    if !input.lease_valid {
        return if input.running.is_empty() {
            Vec::new()
        } else {
            vec![LrmCommand::FenceAll]
        };
    }
    let mut out = Vec::new();
    for (sid, ss) in &input.manager.service_status {
        let running = input.running.contains(sid);
        let last = input.done.get(sid).copied();
        let fresh = last.map(|(u, _)| u) != Some(ss.uid);
        // A failed start is retried only when the CRM says so (a new uid).
        let may_start = fresh || last.is_some_and(|(_, ok)| ok);
        if ss.node != input.node {
            // Someone else's: it must not run here, unless it is migrating here.
            let incoming = matches!(ss.state, ServiceState::Migrate | ServiceState::Relocate)
                && ss.target.as_deref() == Some(input.node);
            if running && !incoming && ss.state != ServiceState::Ignored {
                out.push(LrmCommand::KillStray { sid: *sid });
            }
            continue;
        }
        let (sid, uid) = (*sid, ss.uid);
        match ss.state {
            ServiceState::Started => {
                if !running && may_start && input.quorate && input.configs_here.contains(&sid) {
                    out.push(LrmCommand::Start { sid, uid });
                } else if running && fresh {
                    out.push(LrmCommand::Ack { sid, uid });
                }
            }
            ServiceState::RequestStop
            | ServiceState::Stopped
            | ServiceState::Disabled
            | ServiceState::Error => {
                if running {
                    out.push(LrmCommand::Stop { sid, uid });
                } else if fresh {
                    out.push(LrmCommand::Ack { sid, uid });
                }
            }
            ServiceState::Migrate if fresh => out.push(LrmCommand::Migrate {
                sid,
                target: ss.target.clone().unwrap_or_default(),
                uid,
            }),
            ServiceState::Relocate if fresh => out.push(LrmCommand::Relocate {
                sid,
                target: ss.target.clone().unwrap_or_default(),
                uid,
            }),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ServiceStatus;

    fn manager(entries: &[(&str, ServiceState, &str, Option<&str>)]) -> ManagerStatus {
        let mut m = ManagerStatus::default();
        for (i, (sid, state, node, target)) in entries.iter().enumerate() {
            m.service_status.insert(
                sid.parse().expect("sid"),
                ServiceStatus {
                    state: *state,
                    node: node.to_string(),
                    target: target.map(str::to_string),
                    uid: i as u64 + 1,
                    restarts: 0,
                    relocates: 0,
                    failed_nodes: Vec::new(),
                    maintenance_node: None,
                    held: None,
                },
            );
        }
        m
    }

    fn set(v: &[&str]) -> BTreeSet<ServiceId> {
        v.iter().map(|s| s.parse().expect("sid")).collect()
    }

    #[test]
    fn without_a_lease_everything_is_killed() {
        let m = manager(&[("vm:100", ServiceState::Started, "n1", None)]);
        let running = set(&["vm:100"]);
        let input = LrmInput {
            node: "n1",
            lease_valid: false,
            quorate: false,
            manager: &m,
            running: &running,
            configs_here: &running,
            done: &BTreeMap::new(),
        };
        assert_eq!(step(&input), vec![LrmCommand::FenceAll]);
    }

    #[test]
    fn starts_stops_and_kills_strays() {
        let m = manager(&[
            ("vm:100", ServiceState::Started, "n1", None),
            ("vm:101", ServiceState::RequestStop, "n1", None),
            ("vm:102", ServiceState::Started, "n2", None),
            ("vm:103", ServiceState::Migrate, "n2", Some("n1")),
        ]);
        let running = set(&["vm:101", "vm:102", "vm:103"]);
        let here = set(&["vm:100", "vm:101"]);
        let input = LrmInput {
            node: "n1",
            lease_valid: true,
            quorate: true,
            manager: &m,
            running: &running,
            configs_here: &here,
            done: &BTreeMap::new(),
        };
        let cmds = step(&input);
        assert!(cmds.contains(&LrmCommand::Start {
            sid: "vm:100".parse().expect("sid"),
            uid: 1
        }));
        assert!(cmds.contains(&LrmCommand::Stop {
            sid: "vm:101".parse().expect("sid"),
            uid: 2
        }));
        assert!(cmds.contains(&LrmCommand::KillStray {
            sid: "vm:102".parse().expect("sid")
        }));
        assert_eq!(cmds.len(), 3, "the incoming vm:103 is left alone: {cmds:?}");
    }

    #[test]
    fn a_start_needs_the_config_here() {
        let m = manager(&[("vm:100", ServiceState::Started, "n1", None)]);
        let none = BTreeSet::new();
        let input = LrmInput {
            node: "n1",
            lease_valid: true,
            quorate: true,
            manager: &m,
            running: &none,
            configs_here: &none,
            done: &BTreeMap::new(),
        };
        assert!(step(&input).is_empty());
    }
}
