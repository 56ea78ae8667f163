//! `lab status`: the lab's nodes, their processes, each node's view of the cluster,
//! and the guests as a live node sees them (a quorate one when there is one).

use std::collections::BTreeMap;
use std::path::Path;

use super::{attach, load};
use crate::connect::GlobalArgs;
use crate::output::{print_json, table};

/// Above this many nodes, only the nodes worth a look are listed unless --all.
const NODES_LISTED_UP_TO: usize = 32;

/// "N nodes: R daemons running, Q quorate; leader n1 (in R views)".
fn node_summary(rows: &[serde_json::Value]) -> String {
    let count = |f: &dyn Fn(&serde_json::Value) -> bool| rows.iter().filter(|r| f(r)).count();
    let running = count(&|r| r["running"].as_bool() == Some(true));
    let quorate = count(&|r| r["quorate"].as_bool() == Some(true));
    let mut leaders: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        if let Some(l) = r["leader"].as_str() {
            *leaders.entry(l).or_default() += 1;
        }
    }
    let leaders: Vec<String> = leaders
        .iter()
        .map(|(l, n)| format!("{l} (in {n} views)"))
        .collect();
    format!(
        "{} nodes: {running} daemons running, {quorate} quorate; leader {}",
        rows.len(),
        if leaders.is_empty() {
            "none".to_string()
        } else {
            leaders.join(", ")
        }
    )
}

/// The node rows to list: all up to [`NODES_LISTED_UP_TO`] (or with `all`), else the
/// dead, the non-quorate and the leader; and how many were left out.
fn nodes_listed(rows: &[serde_json::Value], all: bool) -> (Vec<&serde_json::Value>, usize) {
    if all || rows.len() <= NODES_LISTED_UP_TO {
        return (rows.iter().collect(), 0);
    }
    let listed: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| {
            r["running"].as_bool() != Some(true)
                || r["quorate"].as_bool() != Some(true)
                || r["role"]
                    .as_str()
                    .is_some_and(|x| x != "Follower" && x != "Learner")
        })
        .collect();
    let hidden = rows.len() - listed.len();
    (listed, hidden)
}

pub(super) async fn status(g: &GlobalArgs, dir: &Path, all: bool) -> anyhow::Result<()> {
    let state = load(dir)?;
    let mut c = attach(dir, &state)?;
    let mut rows = Vec::new();
    for i in 0..c.nodes.len() {
        let running = c.nodes[i].is_running();
        let s = if running {
            c.client(i)?.status().await.ok()
        } else {
            None
        };
        rows.push(serde_json::json!({
            "node": c.nodes[i].name,
            "address": c.nodes[i].addr.to_string(),
            "pid": c.nodes[i].pid(),
            "running": running,
            "quorate": s.as_ref().map(|s| s.quorate),
            "role": s.as_ref().and_then(|s| s.cfs.as_ref()).map(|c| c.role.clone()),
            "leader": s.as_ref().and_then(|s| s.cfs.as_ref()).and_then(|c| c.leader_name.clone()),
        }));
    }
    if g.json() {
        return print_json(&rows);
    }
    let mut t = table(&[
        "Node",
        "Address",
        "PID",
        "Daemon",
        "Quorate",
        "Role",
        "Leader (its view)",
    ]);
    outln!("{}", node_summary(&rows));
    let (listed, hidden_nodes) = nodes_listed(&rows, all);
    for r in listed {
        let s = |k: &str| {
            r[k].as_str()
                .map(String::from)
                .unwrap_or_else(|| "-".into())
        };
        t.add_row(vec![
            s("node"),
            s("address"),
            r["pid"]
                .as_u64()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            if r["running"].as_bool() == Some(true) {
                "running".into()
            } else {
                "dead".into()
            },
            match r["quorate"].as_bool() {
                Some(true) => "yes".into(),
                Some(false) => "NO".into(),
                None => "-".into(),
            },
            s("role"),
            s("leader"),
        ]);
    }
    outln!("{t}");
    if hidden_nodes > 0 {
        outln!(
            "{hidden_nodes} running, quorate followers and learners not listed (--all lists them)"
        );
    }
    // The guests, as a live and quorate node sees them (else any live one, said so).
    let candidates: Vec<usize> = (0..c.nodes.len())
        .filter(|i| c.nodes[*i].is_running() && !c.nodes[*i].config.qdevice)
        .collect();
    let quorate = |i: &usize| rows[*i]["quorate"].as_bool() == Some(true);
    let live = candidates
        .iter()
        .copied()
        .find(quorate)
        .or_else(|| candidates.first().copied());
    if let Some(i) = live {
        let client = c.client(i)?;
        if quorate(&i) {
            outln!("Guests, as seen by {} (quorate):", c.nodes[i].name);
        } else {
            outln!(
                "Guests, as seen by {}, which is NOT quorate: this view may be out of date",
                c.nodes[i].name
            );
        }
        let ha = client.ha_status().await.ok();
        if let Ok(rows) = client.resources().await {
            outln!("{}", crate::cmd::guest_list::summary(&rows));
            let total = rows.len();
            let shown = if all {
                total
            } else {
                total.min(crate::cmd::guest_list::ROWS_SHOWN)
            };
            let mut t = table(&["VMID", "Type", "Name", "Node", "Status", "HA", "Lock"]);
            for r in rows.into_iter().take(shown) {
                let sid = format!(
                    "{}:{}",
                    if r.kind == brigade_core::layout::GuestKind::Qemu {
                        "vm"
                    } else {
                        "ct"
                    },
                    r.vmid
                );
                let ha_state = ha
                    .as_ref()
                    .and_then(|h| h.services.iter().find(|s| s.sid == sid))
                    .map(|s| s.state.clone())
                    .unwrap_or_else(|| "-".into());
                t.add_row(vec![
                    r.vmid.to_string(),
                    r.kind.to_string(),
                    r.name.unwrap_or_default(),
                    r.node,
                    r.status.to_string(),
                    ha_state,
                    r.lock.unwrap_or_default(),
                ]);
            }
            outln!("{t}");
            if shown < total {
                outln!(
                    "{} more guests not listed (--all, or `brigade vm list` with --on/--state/--filter)",
                    total - shown
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(n: usize) -> Vec<serde_json::Value> {
        (1..=n)
            .map(|i| {
                json!({
                    "node": format!("n{i}"),
                    "running": i != 7,
                    "quorate": if i == 7 { None } else { Some(i != 9) },
                    "role": if i == 1 { "Leader" } else if i <= 5 { "Follower" } else { "Learner" },
                    "leader": if i == 7 || i == 9 { None } else { Some("n1") },
                })
            })
            .collect()
    }

    #[test]
    fn a_big_lab_gets_a_summary_and_only_the_nodes_worth_a_look() {
        let r = rows(128);
        assert_eq!(
            node_summary(&r),
            "128 nodes: 127 daemons running, 126 quorate; leader n1 (in 126 views)"
        );
        let (listed, hidden) = nodes_listed(&r, false);
        let names: Vec<&str> = listed.iter().filter_map(|r| r["node"].as_str()).collect();
        assert_eq!(names, vec!["n1", "n7", "n9"]);
        assert_eq!(hidden, 125);
        assert_eq!(nodes_listed(&r, true).0.len(), 128);
        assert_eq!(nodes_listed(&rows(3), false), (rows(3).iter().collect(), 0));
    }
}
