//! The simulator's invariants: checked after every step, and once the cluster healed.

use super::Sim;
use crate::config::RequestState;
use crate::rules::{self, Compiled};

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

impl Sim {
    fn compiled_rules(&self) -> Compiled {
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        rules::compile(&self.committed.rules, &names)
    }

    /// No two guests a feasible negative rule keeps apart run on one node, and no guest
    /// a feasible strict node-affinity rule binds runs outside its nodes.
    pub(super) fn check_rules(&self) -> Result<(), Violation> {
        let c = self.compiled_rules();
        let running = self.running();
        let fail = |message: String| {
            Err(Violation {
                time_ms: self.now_ms,
                message,
            })
        };
        for (a, partners) in &c.apart {
            for (b, rule) in partners {
                let (Some(na), Some(nb)) = (running.get(a), running.get(b)) else {
                    continue;
                };
                if let Some(n) = na.iter().find(|n| nb.contains(n)) {
                    return fail(format!(
                        "{a} and {b} run together on {n} against rule {rule}"
                    ));
                }
            }
        }
        for (sid, na) in &c.node_affinity {
            if !na.strict {
                continue;
            }
            for n in running.get(sid).into_iter().flatten() {
                if !na.nodes.contains_key(n) {
                    return fail(format!("{sid} runs on {n} against strict rule {}", na.rule));
                }
            }
        }
        Ok(())
    }

    /// Whether the running members of every feasible positive rule share a node.
    pub fn positive_rules_hold(&self) -> Result<(), Violation> {
        let c = self.compiled_rules();
        let running = self.running();
        for (sid, (rule, partners)) in &c.together {
            let Some(here) = running.get(sid) else {
                continue;
            };
            for p in partners {
                if let Some(there) = running.get(p) {
                    if here != there {
                        return Err(Violation {
                            time_ms: self.now_ms,
                            message: format!(
                                "{sid} runs on {} and {p} on {} against rule {rule}",
                                here.join(","),
                                there.join(",")
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// `check_rules` on demand, as a result for tests.
    pub fn rules_hold(&self) -> Result<(), Violation> {
        self.check_rules()
    }
}
