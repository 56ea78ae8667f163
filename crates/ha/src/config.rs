//! `ha/resources.cfg` and `ha/groups.cfg` in Proxmox's section-config format.

use std::collections::BTreeMap;

use brigade_core::section_config::{self, Section};
use serde::{Deserialize, Serialize};

use crate::{HaError, ServiceId};

/// Default restarts on the same node after a failed start (ha-manager's default).
pub const DEFAULT_MAX_RESTART: u32 = 1;
/// Default relocations to another node after failed restarts.
pub const DEFAULT_MAX_RELOCATE: u32 = 1;

/// What a clean daemon stop does with the node's HA guests (datacenter.cfg
/// `ha: shutdown_policy=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShutdownPolicy {
    /// Leave them running, frozen: not recovered, resumed when the daemon returns.
    #[default]
    Freeze,
    /// Stop them and let them be recovered elsewhere at once.
    Failover,
    /// Migrate them away first, then stop.
    Migrate,
}

impl ShutdownPolicy {
    pub fn parse(s: &str) -> Result<Self, HaError> {
        match s {
            "freeze" | "conditional" => Ok(ShutdownPolicy::Freeze),
            "failover" => Ok(ShutdownPolicy::Failover),
            "migrate" => Ok(ShutdownPolicy::Migrate),
            _ => Err(HaError::Invalid(format!(
                "unknown shutdown policy {s:?}: conditional, freeze, failover or migrate"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownPolicy::Freeze => "freeze",
            ShutdownPolicy::Failover => "failover",
            ShutdownPolicy::Migrate => "migrate",
        }
    }
}

/// The state an administrator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    Started,
    Stopped,
    Disabled,
    Ignored,
}

impl RequestState {
    pub fn parse(s: &str) -> Result<Self, HaError> {
        match s {
            "started" | "enabled" => Ok(RequestState::Started),
            "stopped" => Ok(RequestState::Stopped),
            "disabled" => Ok(RequestState::Disabled),
            "ignored" => Ok(RequestState::Ignored),
            _ => Err(HaError::Invalid(format!(
                "invalid state {s:?}: started, stopped, disabled or ignored"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Started => "started",
            RequestState::Stopped => "stopped",
            RequestState::Disabled => "disabled",
            RequestState::Ignored => "ignored",
        }
    }
}

/// One HA resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub sid: ServiceId,
    pub state: RequestState,
    pub group: Option<String>,
    pub max_restart: u32,
    pub max_relocate: u32,
    pub comment: Option<String>,
    /// Move back to a higher-priority node of its node affinity when one returns
    /// (PVE 9's per-resource `failback`, which replaced a group's `nofailback`).
    #[serde(default = "default_failback")]
    pub failback: bool,
}

fn default_failback() -> bool {
    true
}

impl Resource {
    pub fn new(sid: ServiceId) -> Self {
        Resource {
            sid,
            state: RequestState::Started,
            group: None,
            max_restart: DEFAULT_MAX_RESTART,
            max_relocate: DEFAULT_MAX_RELOCATE,
            comment: None,
            failback: true,
        }
    }
}

fn num(what: &str, v: &str) -> Result<u32, HaError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| *n <= 10)
        .ok_or_else(|| HaError::Invalid(format!("{what}: {v:?} must be a number 0..10")))
}

/// `ha/resources.cfg`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcesConfig {
    pub resources: BTreeMap<ServiceId, Resource>,
}

impl ResourcesConfig {
    pub fn parse(text: &str) -> Result<Self, HaError> {
        let sections = section_config::parse(text)
            .map_err(|e| HaError::Invalid(format!("resources.cfg: {e}")))?;
        let mut out = ResourcesConfig::default();
        for s in sections {
            let sid: ServiceId = format!("{}:{}", s.kind, s.id).parse()?;
            let mut r = Resource::new(sid);
            for (k, v) in &s.props {
                match k.as_str() {
                    "state" => r.state = RequestState::parse(v)?,
                    "group" => r.group = Some(v.clone()),
                    "max_restart" => r.max_restart = num("max_restart", v)?,
                    "max_relocate" => r.max_relocate = num("max_relocate", v)?,
                    "comment" => r.comment = Some(v.clone()),
                    "failback" => {
                        r.failback = match v.as_str() {
                            "0" => false,
                            "1" => true,
                            _ => {
                                return Err(HaError::Invalid(format!(
                                    "resources.cfg: {sid}: failback must be 0 or 1, not {v:?}"
                                )))
                            }
                        }
                    }
                    other => {
                        return Err(HaError::Invalid(format!(
                            "resources.cfg: {sid}: unknown property {other:?}"
                        )))
                    }
                }
            }
            out.resources.insert(sid, r);
        }
        Ok(out)
    }

    pub fn to_text(&self) -> String {
        let sections: Vec<Section> = self
            .resources
            .values()
            .map(|r| {
                let mut s = Section::new(r.sid.type_name(), &r.sid.vmid.to_string())
                    .with("state", r.state.as_str());
                if let Some(g) = &r.group {
                    s = s.with("group", g);
                }
                if r.max_restart != DEFAULT_MAX_RESTART {
                    s = s.with("max_restart", r.max_restart);
                }
                if r.max_relocate != DEFAULT_MAX_RELOCATE {
                    s = s.with("max_relocate", r.max_relocate);
                }
                if !r.failback {
                    s = s.with("failback", 0);
                }
                if let Some(c) = &r.comment {
                    s = s.with("comment", c);
                }
                s
            })
            .collect();
        section_config::write(&sections)
    }
}

/// A group: nodes with priorities (higher is preferred).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub nodes: BTreeMap<String, i32>,
    /// Only these nodes may run its services.
    pub restricted: bool,
    /// Do not move a service back when a preferred node returns.
    pub nofailback: bool,
}

/// `ha/groups.cfg`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupsConfig {
    pub groups: BTreeMap<String, Group>,
}

/// Parses `n1:2,n2,n3:1` (priority 0 when absent).
pub fn parse_group_nodes(v: &str) -> Result<BTreeMap<String, i32>, HaError> {
    let mut out = BTreeMap::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, prio) = match item.split_once(':') {
            Some((n, p)) => (
                n,
                p.parse::<i32>().map_err(|_| {
                    HaError::Invalid(format!("group nodes: bad priority in {item:?}"))
                })?,
            ),
            None => (item, 0),
        };
        name.parse::<brigade_core::NodeName>()
            .map_err(|e| HaError::Invalid(format!("group nodes: {e}")))?;
        out.insert(name.to_string(), prio);
    }
    if out.is_empty() {
        return Err(HaError::Invalid("a group needs at least one node".into()));
    }
    Ok(out)
}

impl GroupsConfig {
    pub fn parse(text: &str) -> Result<Self, HaError> {
        let sections = section_config::parse(text)
            .map_err(|e| HaError::Invalid(format!("groups.cfg: {e}")))?;
        let mut out = GroupsConfig::default();
        for s in sections {
            if s.kind != "group" {
                return Err(HaError::Invalid(format!(
                    "groups.cfg: unknown section type {:?}",
                    s.kind
                )));
            }
            let flag = |k: &str| -> Result<bool, HaError> {
                match s.get(k) {
                    None | Some("0") => Ok(false),
                    Some("1") => Ok(true),
                    Some(v) => Err(HaError::Invalid(format!(
                        "groups.cfg: {k} must be 0 or 1, not {v:?}"
                    ))),
                }
            };
            for (k, _) in &s.props {
                if !["nodes", "restricted", "nofailback", "comment"].contains(&k.as_str()) {
                    return Err(HaError::Invalid(format!(
                        "groups.cfg: {}: unknown property {k:?}",
                        s.id
                    )));
                }
            }
            let nodes = parse_group_nodes(s.get("nodes").unwrap_or(""))?;
            out.groups.insert(
                s.id.clone(),
                Group {
                    name: s.id.clone(),
                    nodes,
                    restricted: flag("restricted")?,
                    nofailback: flag("nofailback")?,
                },
            );
        }
        Ok(out)
    }

    pub fn to_text(&self) -> String {
        let sections: Vec<Section> = self
            .groups
            .values()
            .map(|g| {
                let nodes: Vec<String> = g.nodes.iter().map(|(n, p)| format!("{n}:{p}")).collect();
                let mut s = Section::new("group", &g.name).with("nodes", nodes.join(","));
                if g.restricted {
                    s = s.with("restricted", 1);
                }
                if g.nofailback {
                    s = s.with("nofailback", 1);
                }
                s
            })
            .collect();
        section_config::write(&sections)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_groups_round_trip() {
        let r = ResourcesConfig::parse(
            "vm: 100\n\tstate started\n\tgroup g1\n\tmax_restart 2\n\tfailback 0\n\nct: 101\n\tstate stopped\n",
        )
        .expect("parses");
        assert_eq!(r.resources.len(), 2);
        assert_eq!(ResourcesConfig::parse(&r.to_text()).expect("again"), r);
        let g =
            GroupsConfig::parse("group: g1\n\tnodes n1:2,n2\n\trestricted 1\n").expect("parses");
        assert_eq!(g.groups["g1"].nodes["n1"], 2);
        assert_eq!(GroupsConfig::parse(&g.to_text()).expect("again"), g);
        for bad in [
            "vm: 100\n\tstate maybe\n",
            "vm: 100\n\tbogus 1\n",
            "xx: 100\n\tstate started\n",
            "vm: 100\n\tmax_restart 99\n",
            "vm: 100\n\tfailback 2\n",
        ] {
            assert!(ResourcesConfig::parse(bad).is_err(), "{bad}");
        }
        for bad in [
            "group: g\n\tnodes \n",
            "group: g\n\tnodes N1\n",
            "group: g\n\tnodes n1:x\n",
            "group: g\n\tnodes n1\n\trestricted 2\n",
        ] {
            assert!(GroupsConfig::parse(bad).is_err(), "{bad}");
        }
    }
}
