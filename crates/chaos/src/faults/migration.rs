//! A leader killed while a migration runs: the nemesis starts a live migration of the
//! plain VM (or an HA migration of the HA VM) through a node that does not lead, kills
//! the leader a drawn delay later, restarts it after the hold and follows the
//! migration to its end (recorded in the history like the workload's).

use std::time::Duration;

use super::{Executor, API_TIMEOUT};
use crate::cluster::{HA_VM, PLAIN_VM};
use crate::history::{Op, OpKind, Outcome};
use crate::workload::{classify, follow_task};

/// The client number of the nemesis's own operations.
pub const NEMESIS_CLIENT: usize = 1000;

impl Executor {
    pub(super) async fn leader_migration(
        &mut self,
        ha: bool,
        to: usize,
        delay_ms: u64,
        power: bool,
        hold: Duration,
    ) -> (String, Option<String>) {
        let leader = self.leader().await;
        let n = self.nodes();
        let via = (0..n)
            .find(|i| Some(*i) != leader && self.expected_up[*i])
            .unwrap_or(0);
        let Ok(client) = self.cc.client(via) else {
            return ("no client for the migration".into(), None);
        };
        let vmid = if ha { HA_VM } else { PLAIN_VM };
        let source = match tokio::time::timeout(API_TIMEOUT, client.locate(vmid)).await {
            Ok(Ok(loc)) => Some(loc),
            _ => None,
        };
        let mut target = self.cc.names[to % n].clone();
        if source.as_ref().is_some_and(|l| l.node == target) {
            target = self.cc.names[(to + 1) % n].clone();
        }
        let start = self.now();
        let kind = if ha {
            OpKind::HaMigrate {
                sid: format!("vm:{vmid}"),
                target: target.clone(),
            }
        } else {
            OpKind::LiveMigrate {
                vmid,
                target: target.clone(),
            }
        };
        let task = match (ha, &source) {
            (true, _) => client
                .ha_migrate(&format!("vm:{vmid}"), &target)
                .await
                .map(|_| None),
            (false, Some(loc)) => client.guest_migrate(loc, &target, true).await.map(Some),
            (false, None) => Ok(None),
        };
        let leader_name = leader.map(|i| self.cc.names[i].clone());
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let killed = match leader {
            Some(l) if power => {
                self.power_cut(l);
                Some(l)
            }
            Some(l) => {
                self.kill_daemon(l);
                Some(l)
            }
            None => None,
        };
        self.hold(hold).await;
        let note = match killed {
            Some(l) => self.restart(l).await,
            None => Some("no leader was known: nothing was killed".into()),
        };
        let history = self.history.clone();
        let node = self.cc.names[via].clone();
        let record = move |outcome, error| {
            let end = history.now();
            history.record(Op {
                client: NEMESIS_CLIENT,
                node,
                kind,
                start,
                end,
                outcome,
                observed: None,
                error,
            });
        };
        let what = format!(
            "{} of VM {vmid} to {target}, leader {} {} {delay_ms} ms in, down {:.1} s",
            if ha { "HA migration" } else { "live migration" },
            leader_name.as_deref().unwrap_or("(none)"),
            if power { "power-cut" } else { "killed" },
            hold.as_secs_f64(),
        );
        match task {
            Err(e) => {
                let (o, e) = classify(&e);
                record(o, e);
            }
            Ok(None) => record(Outcome::Ok, None),
            // Followed meanwhile, so the next fault need not wait for it.
            Ok(Some(t)) => {
                tokio::spawn(async move {
                    let (o, e) = follow_task(&client, &t).await;
                    record(o, e);
                });
            }
        }
        (what, note)
    }
}
