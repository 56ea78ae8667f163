//! Simulated events that change a node or a guest outside HA: a guest config created
//! (and started) by hand, and a clean daemon stop under each shutdown policy.

use super::node::Daemon;
use super::Sim;
use crate::config::ShutdownPolicy;
use crate::status::LrmMode;
use crate::ServiceId;

impl Sim {
    /// A guest config outside HA (`vm create`), started there if asked (`vm start`,
    /// which needs quorum on that node). Returns why it was refused.
    pub(super) fn guest_event(
        &mut self,
        sid: ServiceId,
        node: &str,
        running: bool,
        memory: u64,
    ) -> Option<String> {
        let i = self.index(node)?;
        match self.committed.locations.get(&sid) {
            Some(at) if at != node => return Some(format!("refused: {sid} lives on {at}")),
            Some(_) => {}
            None => {
                self.committed.locations.insert(sid, node.to_string());
                self.committed.memory.insert(sid, memory);
            }
        }
        if running {
            if self.committed.ha_set().contains(&sid) {
                return Some(format!("start refused: {sid} is HA-managed"));
            }
            if !self.in_majority(i) {
                return Some(format!("start refused: {node} is not quorate"));
            }
            self.nodes[i].running.insert(sid);
        }
        None
    }

    pub(super) fn daemon_stop(&mut self, n: &str) {
        let Some(i) = self.index(n) else {
            return;
        };
        // The final write commits only if this node is in the quorate majority.
        let commits = self.in_majority(i);
        let now = self.now_ms;
        let node = &mut self.nodes[i];
        if node.daemon != Daemon::Running {
            return;
        }
        match node.view.policy {
            ShutdownPolicy::Migrate => {
                node.draining = true;
                if commits {
                    self.committed.maintenance.insert(n.to_string());
                }
                return;
            }
            ShutdownPolicy::Freeze => {
                node.lrm.mode = LrmMode::Freeze;
                // Disarm only once the CRM is sure to see the freeze; otherwise the
                // watchdog fences as for any lost node.
                if commits {
                    node.watchdog_armed = false;
                }
            }
            ShutdownPolicy::Failover => {
                node.kill_ha_guests();
                node.watchdog_armed = false;
                node.lrm.mode = LrmMode::Released;
            }
        }
        // The final lrm_status write, if it can commit (it renews the lease too).
        if commits {
            self.renew(i, now);
        }
        self.nodes[i].daemon = Daemon::Stopped;
    }
}
