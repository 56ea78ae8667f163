//! `lab status`: the lab's nodes, their processes, each node's view of the cluster,
//! and the guests as a live node sees them (a quorate one when there is one).

use std::path::Path;

use super::{attach, load};
use crate::connect::GlobalArgs;
use crate::output::{print_json, table};

pub(super) async fn status(g: &GlobalArgs, dir: &Path) -> anyhow::Result<()> {
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
    for r in &rows {
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
            let mut t = table(&["VMID", "Type", "Name", "Node", "Status", "HA", "Lock"]);
            for r in rows {
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
        }
    }
    Ok(())
}
