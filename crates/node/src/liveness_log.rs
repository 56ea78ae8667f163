//! Which liveness events the leader writes to the cluster log: a peer's death
//! and its return, judged on the leader's own heartbeat view. Pure: views in,
//! events out.

use std::collections::BTreeMap;

use brigade_membership::PeerStatus;

/// One liveness event to log: its kind ("dead", "alive") and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivenessEvent {
    pub kind: &'static str,
    pub msg: String,
}

/// What the leader last logged of each peer.
#[derive(Debug, Default)]
pub struct LivenessLog {
    alive: BTreeMap<u64, bool>,
}

impl LivenessLog {
    /// One scan of the view. Only a leader logs liveness; a node that does
    /// not lead forgets what it saw, because the view goes stale while it
    /// does not look: a peer that came back and died again while another node
    /// led would otherwise be reported "alive again" when this node took over
    /// within the node timeout of its death (its last heartbeats still fresh).
    pub fn scan(
        &mut self,
        leading: bool,
        peers: &[PeerStatus],
        node_timeout_secs: u64,
    ) -> Vec<LivenessEvent> {
        if !leading {
            self.alive.clear();
            return Vec::new();
        }
        let mut out = Vec::new();
        for m in peers.iter().filter(|m| !m.local) {
            match (self.alive.insert(m.id, m.alive), m.alive) {
                (Some(true) | None, false) => out.push(LivenessEvent {
                    kind: "dead",
                    msg: format!(
                        "node {} is dead: no heartbeat for {node_timeout_secs} s",
                        m.name
                    ),
                }),
                (Some(false), true) => out.push(LivenessEvent {
                    kind: "alive",
                    msg: format!("node {} is alive again", m.name),
                }),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: u64, alive: bool) -> PeerStatus {
        PeerStatus {
            id,
            name: format!("n{id}"),
            alive,
            local: false,
            links: Vec::new(),
            clock_offset_ms: None,
            clock: "ok".into(),
        }
    }

    fn kinds(events: Vec<LivenessEvent>) -> Vec<String> {
        events.into_iter().map(|e| e.msg).collect()
    }

    #[test]
    fn deaths_and_returns_are_logged_once_by_the_leader() {
        let mut log = LivenessLog::default();
        assert!(log.scan(true, &[peer(2, true)], 10).is_empty());
        assert_eq!(
            kinds(log.scan(true, &[peer(2, false)], 10)),
            vec!["node n2 is dead: no heartbeat for 10 s"]
        );
        assert!(log.scan(true, &[peer(2, false)], 10).is_empty());
        assert_eq!(
            kinds(log.scan(true, &[peer(2, true)], 10)),
            vec!["node n2 is alive again"]
        );
    }

    /// Issue 13 item 7: "node n2 is alive again" 3 s after n2's power cut.
    #[test]
    fn a_new_leader_does_not_report_a_fresh_corpse_alive_again() {
        let mut log = LivenessLog::default();
        // This node leads while n2 is down: it logs the death.
        assert_eq!(log.scan(true, &[peer(2, false)], 10).len(), 1);
        // Another node leads while n2 restarts and runs.
        assert!(log.scan(false, &[peer(2, true)], 10).is_empty());
        // n2 is power-cut; this node takes over 3 s later, when n2's last
        // heartbeat is still within the node timeout.
        let events = log.scan(true, &[peer(2, true)], 10);
        assert!(events.is_empty(), "nothing happened to n2 yet: {events:?}");
        // The death is logged once the node timeout passes.
        assert_eq!(
            kinds(log.scan(true, &[peer(2, false)], 10)),
            vec!["node n2 is dead: no heartbeat for 10 s"]
        );
    }
}
