//! HA rules and scheduler input in cfs: `ha/rules.cfg`, the one-time migration of
//! `ha/groups.cfg` into node-affinity rules, guests' configured sizes, and the usage
//! each node publishes in `nodes/<node>/usage`.

use std::collections::BTreeMap;

use brigade_cfs::{Cfs, Op};
use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout;
use brigade_ha::crs::{GuestStats, NodeStats, Usage};
use brigade_ha::rules::groups::migrate_groups;
use brigade_ha::rules::RulesConfig;
use brigade_ha::ServiceId;

use super::config_io;
use super::usage_report::{UsageReport, USAGE_FILE};
use crate::error::NodeError;
use crate::node::{cfs_path, Node};

/// PVE 9's HA rules.
pub const HA_RULES_CFG: &str = "ha/rules.cfg";

pub fn rules(cfs: &Cfs) -> Result<(RulesConfig, u64), NodeError> {
    let (text, v) = config_io::read(cfs, HA_RULES_CFG)?;
    Ok((
        RulesConfig::parse(&text).map_err(|e| NodeError::Invalid(e.to_string()))?,
        v,
    ))
}

/// A write of `text` to `path` if its version is still `version` (0: it must not exist yet).
pub fn write_op(path: &str, text: String, version: u64) -> Result<Op, NodeError> {
    Ok(Op::Write {
        path: cfs_path(path)?,
        data: text.into_bytes(),
        expect_version: Some(version),
        create_exclusive: false,
    })
}

/// Each guest's configured CPUs (cores x sockets) and memory.
pub fn guest_sizes(cfs: &Cfs) -> BTreeMap<ServiceId, (f64, u64)> {
    let mut out = BTreeMap::new();
    let Ok(prefix) = cfs_path(layout::NODES_DIR) else {
        return out;
    };
    for (path, (_, data)) in cfs.dump(&prefix) {
        let Some(g) = layout::parse_guest_config_path(&path) else {
            continue;
        };
        let Ok(vmid) = brigade_core::VmId::try_from(g.vmid) else {
            continue;
        };
        let Ok(kv) = KeyValueConfig::parse(&String::from_utf8_lossy(&data)) else {
            continue;
        };
        let num = |k: &str, d: u64| kv.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(d);
        let cpus = (num("cores", 1) * num("sockets", 1)) as f64;
        let memory = num("memory", brigade_guest::vm_config::DEFAULT_MEMORY_MIB);
        out.insert(ServiceId { kind: g.kind, vmid }, (cpus, memory));
    }
    out
}

/// What the scheduler knows: every node's published usage, every guest's size, and its
/// live usage as the node holding its config last published it.
pub fn usage(cfs: &Cfs, nodes: &[String], locations: &BTreeMap<ServiceId, String>) -> Usage {
    let mut u = Usage::default();
    let mut reports = BTreeMap::new();
    for n in nodes {
        let path = format!("{}/{n}/{USAGE_FILE}", layout::NODES_DIR);
        let Some(r) = config_io::read(cfs, &path)
            .ok()
            .and_then(|(t, _)| serde_json::from_str::<UsageReport>(&t).ok())
        else {
            continue;
        };
        u.nodes.insert(
            n.clone(),
            NodeStats {
                cpus: r.cpus,
                memory_mib: r.memory_mib,
                live: Some(r.live),
            },
        );
        reports.insert(n.clone(), r);
    }
    for (sid, (cpus, memory_mib)) in guest_sizes(cfs) {
        let live = locations.get(&sid).and_then(|n| {
            reports
                .get(n)
                .and_then(|r| r.guests.get(&sid))
                .map(|l| (n.clone(), *l))
        });
        u.guests.insert(
            sid,
            GuestStats {
                cpus,
                memory_mib,
                live,
            },
        );
    }
    u
}

impl Node {
    /// PVE 9's upgrade step, once: HA groups become node-affinity rules and resources
    /// lose their `group`. Run by the CRM before it steps; the lines say what it did.
    pub(super) async fn migrate_ha_groups(&self, cfs: &Cfs) -> Result<Vec<String>, NodeError> {
        let (groups_text, groups_version) = config_io::read(cfs, layout::HA_GROUPS_CFG)?;
        let (groups, _) = config_io::groups(cfs)?;
        let (resources, res_version) = config_io::resources(cfs)?;
        let (rules, rules_version) = rules(cfs)?;
        let Some(m) = migrate_groups(&groups, &resources, &rules) else {
            return Ok(Vec::new());
        };
        let mut ops = vec![
            write_op(HA_RULES_CFG, m.rules.to_text(), rules_version)?,
            write_op(layout::HA_RESOURCES_CFG, m.resources.to_text(), res_version)?,
        ];
        if !groups_text.is_empty() || groups_version > 0 {
            ops.push(Op::Delete {
                path: cfs_path(layout::HA_GROUPS_CFG)?,
                expect_version: Some(groups_version),
                recursive: false,
            });
        }
        cfs.propose(Op::Batch { ops }).await?;
        Ok(m.log)
    }
}
