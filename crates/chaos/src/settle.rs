//! After the last heal: waiting (within a stated bound) for the cluster to settle, and
//! reading the final state the checkers compare the history with.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use brigade_client::Client;

use crate::checkers::liveness::{self, NodeView, ServiceView, Settling, Snapshot};
use crate::history::{History, Micros};
use crate::sampler::Sampler;
use crate::workload::{bounded, lists};

/// How often the settling loop looks.
const SETTLE_POLL: Duration = Duration::from_secs(1);
/// Directories of guest configs in the tree.
const GUEST_DIRS: [&str; 2] = ["qemu-server", "lxc"];

/// Every file under `dir` on one node's replica: (path, content).
async fn dump(client: &Client, dir: &str, out: &mut Vec<(String, String)>) -> Option<()> {
    let mut stack = vec![dir.to_string()];
    while let Some(d) = stack.pop() {
        let entries = match bounded(client.fs_list(&d)).await {
            Ok(e) => e,
            Err((_, _, Some(404))) => continue,
            Err(_) => return None,
        };
        for e in entries {
            let path = format!("{d}/{}", e.name);
            if e.dir {
                stack.push(path);
            } else {
                let f = bounded(client.fs_read(&path, false)).await.ok()?;
                out.push((path, f.content.unwrap_or(f.data)));
            }
        }
    }
    Some(())
}

/// The workload's files and the guest configs of one node's replica.
async fn tree(client: &Client, names: &[String]) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    dump(client, "chaos", &mut out).await?;
    for n in names {
        for d in GUEST_DIRS {
            dump(client, &format!("nodes/{n}/{d}"), &mut out).await?;
        }
    }
    out.sort();
    Some(out)
}

fn digest(files: &[(String, String)]) -> String {
    let mut h = DefaultHasher::new();
    files.hash(&mut h);
    format!("{:016x} ({} files)", h.finish(), files.len())
}

/// One look at the cluster.
async fn snapshot(clients: &[Client], names: &[String], sampler: &Sampler) -> Snapshot {
    let mut s = Snapshot::default();
    for (c, name) in clients.iter().zip(names) {
        let status = bounded(c.status()).await.ok();
        let tree = match &status {
            Some(_) => tree(c, names).await.map(|t| digest(&t)),
            None => None,
        };
        s.nodes.push(NodeView {
            name: name.clone(),
            answers: status.is_some(),
            quorate: status.as_ref().is_some_and(|x| x.quorate),
            leader: status.and_then(|x| x.cfs.and_then(|c| c.leader_name)),
            tree,
        });
    }
    for c in clients {
        if let Ok(ha) = bounded(c.ha_status()).await {
            if !ha.quorate {
                continue;
            }
            for sv in ha.services {
                let vmid = sv
                    .sid
                    .split_once(':')
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                s.services.push(ServiceView {
                    running_on: sampler.running_on(vmid),
                    sid: sv.sid,
                    state: sv.state,
                    node: sv.node,
                });
            }
            break;
        }
    }
    for c in clients {
        if let Ok(rows) = bounded(c.resources()).await {
            s.locked = rows
                .into_iter()
                .filter_map(|r| r.lock.map(|l| (r.vmid, l)))
                .collect();
            break;
        }
    }
    s
}

/// Waits up to `limit` for every liveness condition to hold.
pub async fn settle(
    history: &History,
    clients: &[Client],
    names: &[String],
    sampler: &Sampler,
    healed_at: Micros,
    limit: Duration,
    say: &dyn Fn(&str),
) -> Settling {
    let deadline = Instant::now() + limit;
    let mut last = Vec::new();
    loop {
        let snap = snapshot(clients, names, sampler).await;
        let problems = liveness::problems(&snap);
        if problems.is_empty() {
            return Settling {
                healed_at,
                limit_s: limit.as_secs(),
                settled_after: Some(history.now().saturating_sub(healed_at)),
                remaining: Vec::new(),
            };
        }
        if problems != last {
            say(&format!("settling: {}", problems.join("; ")));
            last = problems;
        }
        if Instant::now() > deadline {
            return Settling {
                healed_at,
                limit_s: limit.as_secs(),
                settled_after: None,
                remaining: last,
            };
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// Each list's final elements, read through the first node that can (consistently).
pub async fn final_lists(clients: &[Client]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for c in clients {
        let Ok(entries) = bounded(c.fs_list("chaos/list")).await else {
            continue;
        };
        for e in entries {
            let key = format!("chaos/list/{}", e.name);
            if let Ok(f) = bounded(c.fs_read(&key, true)).await {
                out.insert(key, lists::elements(&f.content.unwrap_or_default()));
            }
        }
        break;
    }
    out
}

/// Where each guest config is at the end: VMID -> nodes whose directory holds it.
pub async fn final_configs(clients: &[Client], names: &[String]) -> BTreeMap<u32, Vec<String>> {
    let mut out: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let Some(c) = clients.first() else {
        return out;
    };
    for n in names {
        for d in GUEST_DIRS {
            let Ok(entries) = bounded(c.fs_list(&format!("nodes/{n}/{d}"))).await else {
                continue;
            };
            for e in entries {
                if let Some(vmid) = e.name.strip_suffix(".conf").and_then(|v| v.parse().ok()) {
                    out.entry(vmid).or_default().push(n.clone());
                }
            }
        }
    }
    out
}
