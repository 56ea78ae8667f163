//! `GET /cluster/events`: server-sent change notices for the web UI, so the page re-reads
//! only what changed, at once, instead of polling.
//!
//! Per subscriber, a loop compares a cheap digest of each source every [`EVENT_TICK`]
//! (and at once after a change of the replicated tree): `status` (membership alive/dead,
//! quorum, Raft leader, the configured nodes, warnings), `ha` (manager, LRMs, services),
//! `resources` (the guests, their node and state; every [`RESOURCES_EVERY_TICKS`] ticks
//! or after a tree change, as it asks each live node), `tasks` (this node's tasks),
//! `storage` (storage.cfg's entries) and `log` (the cluster log; the last two only after a
//! tree change, since only a write changes them). The digests are made from the same
//! filtered answers the caller would get from `/cluster/status`, `/cluster/resources`,
//! `/cluster/ha/status`, `/nodes/{node}/tasks`, `/storage` and `/cluster/log`,
//! so a notice never says more than the caller may read. A notice is
//! `event: change` with `{"seq": N, "changed": ["status", ...]}`; the first event is
//! `event: hello` with the tick and the sources. The stream ends when the client leaves.

use std::collections::hash_map::DefaultHasher;
use std::convert::Infallible;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::requirement::Requirement;
use brigade_access::{AclPath, Authid, Permissions, Privilege};
use brigade_api::tasks::TaskListQuery;
use futures::Stream;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::ApiQuery;
use crate::node::Node;

/// How often each subscriber's sources are compared with what it was last told.
pub const EVENT_TICK: Duration = Duration::from_millis(250);
/// The guests' states are asked of every live node: once in this many ticks (and after
/// every change of the tree).
pub const RESOURCES_EVERY_TICKS: u32 = 2;
/// A comment line this often keeps proxies and the browser from closing an idle stream.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// Notices waiting for a slow client; the loop waits when they are all unread.
const NOTICE_QUEUE: usize = 16;
/// This node's tasks compared for `tasks` (the newest ones).
const TASKS_COMPARED: usize = 50;

/// The sources a notice names, in the order the page refreshes them.
pub const SOURCES: [&str; 6] = ["status", "resources", "ha", "tasks", "storage", "log"];

/// What each route of this file requires, checked before its handler runs. Any caller:
/// each source is filtered for it as its own endpoint filters.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] =
    &[("GET", "/cluster/events", Requirement::Authenticated)];

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/cluster/events", get(events))
}

/// A change notice: which sources changed since the last one.
#[derive(Debug, Clone, Serialize)]
struct Notice {
    seq: u64,
    changed: Vec<&'static str>,
}

async fn events(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (tx, rx) = mpsc::channel(NOTICE_QUEUE);
    let hello = Event::default().event("hello").data(
        json!({ "tick_ms": EVENT_TICK.as_millis(), "sources": SOURCES, "node": node.config.name.as_str() })
            .to_string(),
    );
    // The first message goes before the loop's first comparison: the page knows at once
    // that the stream is up.
    let _ = tx.try_send(Ok(hello));
    tokio::spawn(watch(node, caller, tx));
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::new().interval(KEEPALIVE_INTERVAL))
}

/// The loop of one subscriber; it ends when the client has gone.
async fn watch(node: Arc<Node>, caller: Authid, tx: mpsc::Sender<Result<Event, Infallible>>) {
    let mut changes = node.require_cluster().ok().map(|rt| rt.cfs.subscribe());
    let mut tick = tokio::time::interval(EVENT_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: [Option<u64>; SOURCES.len()] = [None; SOURCES.len()];
    let mut n: u32 = 0;
    let mut seq: u64 = 0;
    loop {
        let mut tree_changed = false;
        tokio::select! {
            _ = tick.tick() => {}
            r = next_change(&mut changes) => { tree_changed = r; }
            () = tx.closed() => return,
        }
        if changes.is_none() {
            changes = node.require_cluster().ok().map(|rt| rt.cfs.subscribe());
        }
        let with_resources = tree_changed || n % RESOURCES_EVERY_TICKS == 0;
        n = n.wrapping_add(1);
        let now = [
            Some(status_digest(&node, &caller)),
            if with_resources {
                Some(resources_digest(&node, &caller).await)
            } else {
                last[1]
            },
            Some(ha_digest(&node, &caller).await),
            Some(tasks_digest(&node, &caller).await),
            if tree_changed || last[4].is_none() {
                Some(storage_digest(&node, &caller).await)
            } else {
                last[4]
            },
            if tree_changed || last[5].is_none() {
                Some(log_digest(&node, &caller))
            } else {
                last[5]
            },
        ];
        let changed: Vec<&'static str> = SOURCES
            .iter()
            .zip(now.iter().zip(last.iter()))
            .filter(|(_, (a, b))| b.is_some() && a != b)
            .map(|(s, _)| *s)
            .collect();
        last = now;
        if changed.is_empty() {
            continue;
        }
        seq += 1;
        let data = serde_json::to_string(&Notice { seq, changed }).unwrap_or_default();
        if tx
            .send(Ok(Event::default().event("change").data(data)))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Waits for a change of the tree: true when one came (or changes were missed), false
/// when this node has no tree to watch (then it waits for ever; the tick runs the loop).
async fn next_change(changes: &mut Option<broadcast::Receiver<brigade_cfs::Change>>) -> bool {
    let Some(rx) = changes else {
        return futures::future::pending().await;
    };
    match rx.recv().await {
        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
            // The changes queued meanwhile are the same news: one comparison for all.
            while !matches!(
                rx.try_recv(),
                Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
            ) {}
            true
        }
        Err(broadcast::error::RecvError::Closed) => {
            *changes = None;
            false
        }
    }
}

fn digest(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

fn may(node: &Node, caller: &Authid, path: &AclPath, p: Privilege) -> bool {
    let st = node.access_state();
    Permissions::new(&st.users, crate::access::now())
        .check(caller, path, p)
        .is_ok()
}

/// What `/cluster/status` shows that changes with the cluster (not RTTs or counters);
/// the same value for a caller without `Sys.Audit` on `/`, who may not read it.
fn status_digest(node: &Node, caller: &Authid) -> u64 {
    if !may(node, caller, &AclPath::root(), Privilege::SysAudit) {
        return 0;
    }
    let s = node.status();
    let members: Vec<Value> = s
        .members
        .iter()
        .map(|m| json!([m.id, m.name, m.alive, m.clock]))
        .collect();
    let cfs = s
        .cfs
        .as_ref()
        .map(|c| json!([c.role, c.quorate, c.leader, c.leader_name]));
    let nodes: Vec<Value> = s
        .config
        .as_ref()
        .map(|c| {
            c.nodes
                .iter()
                .map(|n| json!([n.name, n.nodeid, n.votes]))
                .collect()
        })
        .unwrap_or_default();
    digest(&json!([
        s.cluster, s.quorate, cfs, members, nodes, s.warnings
    ]))
}

/// The guests the caller may see, with their node and state, as `/cluster/resources`.
async fn resources_digest(node: &Arc<Node>, caller: &Authid) -> u64 {
    let rows = super::guests::resources(State(node.clone()), Extension(caller.clone())).await;
    match rows {
        Ok(r) => digest(&serde_json::to_value(&r.0.data).unwrap_or_default()),
        Err(_) => 1,
    }
}

/// HA as `/cluster/ha/status` shows it to the caller, without the renewal ages.
async fn ha_digest(node: &Arc<Node>, caller: &Authid) -> u64 {
    let Ok(s) = super::ha::status(State(node.clone()), Extension(caller.clone())).await else {
        return 1;
    };
    let mut s = s.0.data;
    for n in &mut s.nodes {
        n.renewal_age_ms = None;
    }
    digest(&serde_json::to_value(&s).unwrap_or_default())
}

/// This node's newest tasks the caller may see: each one's id and status.
async fn tasks_digest(node: &Arc<Node>, caller: &Authid) -> u64 {
    let q = TaskListQuery {
        running: false,
        vmid: None,
        limit: Some(TASKS_COMPARED),
    };
    let tasks = super::tasks::list(
        State(node.clone()),
        Extension(caller.clone()),
        axum::extract::Path(node.config.name.to_string()),
        ApiQuery(q),
    )
    .await;
    match tasks {
        Ok(t) => {
            let v: Vec<Value> =
                t.0.data
                    .iter()
                    .map(|t| json!([t.upid, t.status, t.exitstatus, t.endtime]))
                    .collect();
            digest(&Value::Array(v))
        }
        Err(_) => 1,
    }
}

/// storage.cfg's entries the caller may see, as `/storage` answers them.
async fn storage_digest(node: &Arc<Node>, caller: &Authid) -> u64 {
    match super::storage::list(State(node.clone()), Extension(caller.clone())).await {
        Ok(s) => digest(&serde_json::to_value(&s.0.data).unwrap_or_default()),
        Err(_) => 1,
    }
}

/// The cluster log's version (it only grows); the same value for a caller without
/// `Sys.Audit` on `/`, who may not read it.
fn log_digest(node: &Node, caller: &Authid) -> u64 {
    if !may(node, caller, &AclPath::root(), Privilege::SysAudit) {
        return 0;
    }
    let Ok(rt) = node.require_cluster() else {
        return 1;
    };
    let Ok(path) = brigade_core::layout::CLUSTER_LOG.parse::<brigade_core::CfsPath>() else {
        return 1;
    };
    // Its version only: the log is up to a megabyte, and every subscriber asks at every
    // change of the tree.
    rt.cfs.version_of(&path).unwrap_or(2)
}
