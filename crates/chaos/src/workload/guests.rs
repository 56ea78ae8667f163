//! Guest clients: one creates and removes guest configs (each VMID its own, so its
//! operations are sequential), one asks HA to migrate HA guests around, one live-migrates
//! the plain VM (starting it first if a fault left it stopped).

use std::collections::BTreeMap;
use std::sync::Arc;

use brigade_core::layout::GuestKind;
use rand::Rng;

use super::{bounded, follow_task, Ctx};
use crate::cluster::PLAIN_VM;
use crate::history::{OpKind, Outcome};

/// The VMIDs the config client creates and removes.
pub const CONFIG_VMIDS: std::ops::RangeInclusive<u32> = 300..=305;
/// Pauses between requests (ms).
const CONFIG_PAUSE_MS: (u64, u64) = (500, 2_000);
const MIGRATION_PAUSE_MS: (u64, u64) = (5_000, 15_000);

/// Believed state of a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Believed {
    Absent,
    Present,
    Unsure,
}

pub async fn configs(ctx: Arc<Ctx>, id: usize, node: usize) {
    let mut rng = ctx.rng(id);
    let client = ctx.clients[node].clone();
    let name = ctx.names[node].clone();
    let mut state: BTreeMap<u32, Believed> = CONFIG_VMIDS.map(|v| (v, Believed::Absent)).collect();
    let vmids: Vec<u32> = CONFIG_VMIDS.collect();
    while !ctx.stopped() {
        let vmid = vmids[rng.gen_range(0..vmids.len())];
        let believed = state.get(&vmid).copied().unwrap_or(Believed::Unsure);
        if believed == Believed::Present || (believed == Believed::Unsure && rng.gen_bool(0.5)) {
            let p = ctx.history.begin(id, &name, OpKind::GuestDestroy { vmid });
            let result = match bounded(client.locate(vmid)).await {
                Ok(loc) => bounded(client.guest_destroy(&loc)).await.map(|_| ()),
                Err(e) => Err(e),
            };
            let next = match result {
                Ok(()) => {
                    ctx.history.end(p, Outcome::Ok, None, None);
                    Believed::Absent
                }
                Err((o, e, status)) => {
                    ctx.history.end(p, o, None, e);
                    match (o, status) {
                        (_, Some(404)) => Believed::Absent,
                        (Outcome::Failed, _) => believed,
                        _ => Believed::Unsure,
                    }
                }
            };
            state.insert(vmid, next);
        } else {
            let target = ctx.names[rng.gen_range(0..ctx.names.len())].clone();
            let config = BTreeMap::from([
                ("memory".to_string(), "64".to_string()),
                ("name".to_string(), format!("chaos-{vmid}")),
            ]);
            let p = ctx.history.begin(
                id,
                &name,
                OpKind::GuestCreate {
                    vmid,
                    node: target.clone(),
                },
            );
            let next = match bounded(client.guest_create(
                &target,
                GuestKind::Qemu,
                vmid,
                &config,
                None,
                false,
            ))
            .await
            {
                Ok(_) => {
                    ctx.history.end(p, Outcome::Ok, None, None);
                    Believed::Present
                }
                Err((o, e, status)) => {
                    let exists = e.as_deref().is_some_and(|e| e.contains("already exists"));
                    ctx.history.end(p, o, None, e);
                    match (o, status) {
                        _ if exists => Believed::Present,
                        (Outcome::Failed, _) => believed,
                        _ => Believed::Unsure,
                    }
                }
            };
            state.insert(vmid, next);
        }
        ctx.pause(&mut rng, CONFIG_PAUSE_MS.0, CONFIG_PAUSE_MS.1)
            .await;
    }
}

pub async fn ha_migrations(ctx: Arc<Ctx>, id: usize, node: usize) {
    let mut rng = ctx.rng(id);
    let client = ctx.clients[node].clone();
    let name = ctx.names[node].clone();
    ctx.pause(&mut rng, MIGRATION_PAUSE_MS.0, MIGRATION_PAUSE_MS.1)
        .await;
    while !ctx.stopped() && !ctx.ha.is_empty() {
        let sid = ctx.ha[rng.gen_range(0..ctx.ha.len())].clone();
        let target = ctx.names[rng.gen_range(0..ctx.names.len())].clone();
        let p = ctx.history.begin(
            id,
            &name,
            OpKind::HaMigrate {
                sid: sid.clone(),
                target: target.clone(),
            },
        );
        match bounded(client.ha_migrate(&sid, &target)).await {
            Ok(_) => ctx.history.end(p, Outcome::Ok, None, None),
            Err((o, e, _)) => ctx.history.end(p, o, None, e),
        }
        ctx.pause(&mut rng, MIGRATION_PAUSE_MS.0, MIGRATION_PAUSE_MS.1)
            .await;
    }
}

pub async fn live_migrations(ctx: Arc<Ctx>, id: usize, node: usize) {
    let mut rng = ctx.rng(id);
    let client = ctx.clients[node].clone();
    let name = ctx.names[node].clone();
    while !ctx.stopped() {
        ctx.pause(&mut rng, MIGRATION_PAUSE_MS.0, MIGRATION_PAUSE_MS.1)
            .await;
        if ctx.stopped() {
            break;
        }
        let Ok(loc) = bounded(client.locate(PLAIN_VM)).await else {
            continue;
        };
        let Ok(status) = bounded(client.guest_status(&loc)).await else {
            continue;
        };
        if status.status != "running" {
            let p = ctx
                .history
                .begin(id, &name, OpKind::GuestStart { vmid: PLAIN_VM });
            match bounded(client.guest_power(&loc, "start", serde_json::json!({}))).await {
                Ok(_) => ctx.history.end(p, Outcome::Ok, None, None),
                Err((o, e, _)) => ctx.history.end(p, o, None, e),
            }
            continue;
        }
        let others: Vec<&String> = ctx.names.iter().filter(|n| **n != loc.node).collect();
        let Some(target) = others.get(rng.gen_range(0..others.len().max(1))) else {
            continue;
        };
        let target = (*target).clone();
        let p = ctx.history.begin(
            id,
            &name,
            OpKind::LiveMigrate {
                vmid: PLAIN_VM,
                target: target.clone(),
            },
        );
        match bounded(client.guest_migrate(&loc, &target, true)).await {
            Ok(task) => {
                let (o, e) = follow_task(&client, &task).await;
                ctx.history.end(p, o, None, e);
            }
            Err((o, e, _)) => ctx.history.end(p, o, None, e),
        }
    }
}
