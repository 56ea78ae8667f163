//! The simulator's invariants: checked after every step, and once the cluster healed.

use super::Sim;
use crate::config::RequestState;

/// A safety invariant that broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {time_ms} ms: {message}")]
pub struct Violation {
    /// When (simulated time).
    pub time_ms: u64,
    /// What broke.
    pub message: String,
}

impl Sim {
    /// No guest runs on two nodes at once; no HA guest loses its config.
    pub(super) fn check(&self) -> Result<(), Violation> {
        for (sid, nodes) in self.running() {
            if nodes.len() > 1 {
                return Err(Violation {
                    time_ms: self.now_ms,
                    message: format!("{sid} runs on {} at once", nodes.join(" and ")),
                });
            }
        }
        for sid in self.committed.resources.resources.keys() {
            if !self.committed.locations.contains_key(sid) {
                return Err(Violation {
                    time_ms: self.now_ms,
                    message: format!("{sid} lost its config"),
                });
            }
        }
        Ok(())
    }

    /// Whether every service asked to run runs exactly once (after the cluster healed).
    pub fn all_started_run_once(&self) -> Result<(), Violation> {
        let running = self.running();
        for (sid, r) in &self.committed.resources.resources {
            if r.state == RequestState::Started {
                match running.get(sid).map(Vec::len) {
                    Some(1) => {}
                    n => {
                        return Err(Violation {
                            time_ms: self.now_ms,
                            message: format!(
                                "{sid} should run once, runs on {} node(s)",
                                n.unwrap_or(0)
                            ),
                        })
                    }
                }
            }
        }
        Ok(())
    }
}
