//! The simulator's LRMs: one pure LRM step per node on its own view, and what
//! carrying out its commands does to the simulated cluster.

use std::collections::BTreeSet;

use super::check::Violation;
use super::Sim;
use crate::lrm::{self, LrmCommand, LrmInput};
use crate::status::LrmResult;
use crate::ServiceId;

impl Sim {
    /// One LRM step on node `i`. Like the daemon, an LRM whose renewal did not commit
    /// this round acts on nothing but its lease: it feeds the watchdog while the lease
    /// holds and fences once it lapsed.
    pub(super) fn lrm_step(&mut self, i: usize) -> Result<(), Violation> {
        let now = self.now_ms;
        let n = &self.nodes[i];
        let current = self.in_majority(i) && !n.acks_lost;
        let name = n.name.clone();
        let lease_valid = n.lease.valid(now);
        let fence_set = n.fence_set();
        let ha_running: BTreeSet<ServiceId> = n.running.intersection(&fence_set).copied().collect();
        let here: BTreeSet<ServiceId> = n
            .view
            .locations
            .iter()
            .filter(|(_, l)| **l == name)
            .map(|(s, _)| *s)
            .collect();
        if current || !lease_valid {
            let cmds = lrm::step(&LrmInput {
                node: &name,
                lease_valid,
                quorate: current,
                manager: &n.view.manager,
                running: &ha_running,
                configs_here: &here,
                done: &n.done,
            });
            for c in cmds {
                self.execute(i, c)?;
            }
        }
        // The watchdog is told the lease's own deadline whenever there is one.
        let n = &mut self.nodes[i];
        if let Some(d) = n.lease.deadline_ms() {
            n.watchdog_deadline = d;
            n.watchdog_armed = true;
        }
        Ok(())
    }

    fn result(&mut self, i: usize, sid: ServiceId, uid: u64, ok: bool, message: &str) {
        let n = &mut self.nodes[i];
        n.done.insert(sid, (uid, ok));
        n.lrm.results.insert(
            sid,
            LrmResult {
                uid,
                ok,
                message: message.to_string(),
            },
        );
    }

    fn target_up(&self, target: &str) -> Option<usize> {
        self.index(target).filter(|t| self.in_majority(*t))
    }

    fn execute(&mut self, i: usize, c: LrmCommand) -> Result<(), Violation> {
        let name = self.nodes[i].name.clone();
        let who = format!("lrm {name}");
        match c {
            LrmCommand::FenceAll => {
                let n = &mut self.nodes[i];
                let killed: Vec<String> = n
                    .kill_ha_guests()
                    .iter()
                    .map(ServiceId::to_string)
                    .collect();
                if !killed.is_empty() {
                    self.say(
                        &who,
                        &format!("lease lapsed: self-fence, killed {}", killed.join(", ")),
                    );
                }
            }
            LrmCommand::Start { sid, uid } => {
                if !self.in_majority(i) {
                    return Err(Violation {
                        time_ms: self.now_ms,
                        message: format!("{name} started {sid} without quorum"),
                    });
                }
                if self.fail_start.contains(&(sid, name.clone())) {
                    self.say(&who, &format!("start {sid} failed"));
                    self.result(i, sid, uid, false, "start failed");
                } else {
                    self.nodes[i].running.insert(sid);
                    self.say(&who, &format!("start {sid}"));
                    self.result(i, sid, uid, true, "");
                }
            }
            LrmCommand::Stop { sid, uid } => {
                self.nodes[i].running.remove(&sid);
                self.say(&who, &format!("stop {sid}"));
                self.result(i, sid, uid, true, "");
            }
            LrmCommand::Ack { sid, uid } => self.result(i, sid, uid, true, ""),
            LrmCommand::KillStray { sid } => {
                self.nodes[i].running.remove(&sid);
                self.say(&who, &format!("kill stray {sid} (it belongs elsewhere)"));
            }
            LrmCommand::Migrate { sid, target, uid }
            | LrmCommand::Relocate { sid, target, uid } => {
                let Some(t) = self.target_up(&target).filter(|_| self.in_majority(i)) else {
                    self.say(
                        &who,
                        &format!("move {sid} to {target} failed: target unreachable"),
                    );
                    self.result(i, sid, uid, false, "target unreachable");
                    return Ok(());
                };
                let was_running = self.nodes[i].running.remove(&sid);
                let fails = self.fail_start.contains(&(sid, target.clone()));
                if was_running && !fails {
                    self.nodes[t].running.insert(sid);
                }
                // The config moves to the target: a write that commits in the majority.
                self.committed.locations.insert(sid, target.clone());
                self.nodes[i].view.locations.insert(sid, target.clone());
                self.say(
                    &who,
                    &format!(
                        "move {sid} to {target}{}",
                        if was_running { " (running)" } else { "" }
                    ),
                );
                self.result(i, sid, uid, true, "");
            }
        }
        Ok(())
    }
}
