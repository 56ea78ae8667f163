//! Where a guest can migrate now: the checks a migration makes before it starts (on the
//! guest, then each other node asked whether it can take it), for `GET .../migrate` and
//! the web UI's migrate dialog.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use brigade_api::guests::{GuestRequest, MigrateTargets};
use brigade_core::layout::GuestKind;
use brigade_core::VmId;

use super::super::common::check_unlocked;
use super::super::config_ops::volumes;
use super::super::locate::{noun, Located};
use super::super::power::lock_of;
use crate::error::NodeError;
use crate::node::Node;

/// How long one node may take to say whether it can take the guest.
const TARGET_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// What a migration needs from its target.
pub(super) struct Needs {
    /// The storages the guest's volumes are on.
    pub storages: Vec<String>,
    /// Memory for a live move (0: an offline move, not checked).
    pub memory_mib: u64,
}

impl Node {
    /// The checks of the guest itself for a migration (live when `live`), and what the
    /// target must have.
    pub(super) fn migration_needs(
        &self,
        kind: GuestKind,
        l: &Located,
        live: bool,
    ) -> Result<Needs, NodeError> {
        let what = format!("{} {}", noun(kind), l.vmid);
        let (scfg, _) = self.storage_cfg()?;
        let mut storages = Vec::new();
        for v in &volumes(kind, &l.text)? {
            let s = scfg.get(&v.storage)?;
            if live && !s.shared {
                return Err(NodeError::Invalid(format!(
                    "{what} cannot migrate live: volume {v} is on local storage {:?}; live migration needs every disk on shared storage (stop it and migrate offline to copy the disk)",
                    s.id
                )));
            }
            storages.push(s.id.clone());
        }
        let memory_mib = if live {
            brigade_guest::VmConfig::parse(&l.text)?.memory_mib
        } else {
            0
        };
        Ok(Needs {
            storages,
            memory_mib,
        })
    }

    /// Which other nodes can take guest `vmid` now (a running VM live), each of the others
    /// with why not, from the same checks [`Node::start_migration`] makes.
    pub(crate) async fn migrate_targets(
        self: &Arc<Self>,
        kind: GuestKind,
        vmid: VmId,
    ) -> Result<MigrateTargets, NodeError> {
        let l = self.local_guest(kind, vmid)?;
        let rt = self.require_cluster()?.clone();
        let running = self.guest_pid(kind, vmid.get()).is_some();
        let me = self.config.name.to_string();
        let others: Vec<String> = crate::cluster_ops::read_cluster_conf(&rt.cfs)?
            .nodes
            .iter()
            .map(|n| n.name.to_string())
            .filter(|n| *n != me)
            .collect();
        let guest_wide = if !rt.cfs.is_quorate() {
            Err(brigade_cfs::CfsError::NotQuorate.into())
        } else if kind == GuestKind::Lxc && running {
            Err(NodeError::Conflict(format!(
                "{} {vmid} is running; containers migrate offline: stop it first",
                noun(kind)
            )))
        } else {
            check_unlocked(kind, vmid, lock_of(&l))
                .and_then(|()| self.migration_needs(kind, &l, running))
        };
        let mut answer = MigrateTargets {
            node: me,
            running,
            ..MigrateTargets::default()
        };
        let needs = match guest_wide {
            Ok(n) => n,
            Err(e) => {
                let why = e.to_string();
                answer.not_allowed_nodes = others.into_iter().map(|n| (n, why.clone())).collect();
                answer.refused = Some(why);
                return Ok(answer);
            }
        };
        let alive: BTreeMap<String, bool> = rt
            .members
            .status()
            .into_iter()
            .map(|m| (m.name, m.alive))
            .collect();
        let asked = others.into_iter().map(|n| {
            let node = self.clone();
            let up = alive.get(&n).copied().unwrap_or(false);
            let req = GuestRequest::Precheck {
                memory_mib: needs.memory_mib,
                storages: needs.storages.clone(),
            };
            async move {
                if !up {
                    return (n, Err("offline: no heartbeat".to_string()));
                }
                let answer =
                    tokio::time::timeout(TARGET_CHECK_TIMEOUT, node.guest_on(&n, req)).await;
                let verdict = match answer {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!(
                        "did not answer within {} s",
                        TARGET_CHECK_TIMEOUT.as_secs()
                    )),
                };
                (n, verdict)
            }
        });
        for (n, verdict) in futures::future::join_all(asked).await {
            match verdict {
                Ok(()) => answer.allowed_nodes.push(n),
                Err(why) => {
                    answer.not_allowed_nodes.insert(n, why);
                }
            }
        }
        Ok(answer)
    }
}
