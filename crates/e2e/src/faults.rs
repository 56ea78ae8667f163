//! Named fault steps of a debug daemon (its state dir's faults file), set and watched by tests.

use brigade_localcluster::ProcCluster;
use brigade_node::faults::FAULTS_FILE;

/// Arms fault `line` (`STEP ACTION`) on node `i`; the daemon consumes it at that step.
pub fn set_fault(c: &ProcCluster, i: usize, line: &str) {
    std::fs::write(
        c.nodes[i].state_dir().join(FAULTS_FILE),
        format!("{line}\n"),
    )
    .expect("write faults");
}

/// Whether node `i` has consumed its armed fault (or none was armed).
pub fn fault_consumed(c: &ProcCluster, i: usize) -> bool {
    std::fs::read_to_string(c.nodes[i].state_dir().join(FAULTS_FILE))
        .map(|s| s.trim().is_empty())
        .unwrap_or(true)
}
