//! The report of a run, as JSON and as text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::checkers::Verdict;
use crate::history::{secs, Micros, Op, Outcome};
use crate::metrics::{Downtime, Gap};
use crate::schedule::FaultKind;

/// A fault as it was injected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub index: usize,
    pub kind: FaultKind,
    /// What was done, with the targets resolved (which node led).
    pub description: String,
    pub started: Micros,
    pub healed: Option<Micros>,
    /// What happened that is worth knowing (a refusal's words, a skipped step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Operations of one kind by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    pub ok: usize,
    pub failed: usize,
    pub unknown: usize,
}

/// Counts by operation kind, plus a total.
pub fn count_ops(ops: &[Op]) -> BTreeMap<String, OpCounts> {
    let mut m: BTreeMap<String, OpCounts> = BTreeMap::new();
    for op in ops {
        for key in [op.kind.name(), "total"] {
            let c = m.entry(key.to_string()).or_default();
            match op.outcome {
                Outcome::Ok => c.ok += 1,
                Outcome::Failed => c.failed += 1,
                Outcome::Unknown => c.unknown += 1,
            }
        }
    }
    m
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub seed: u64,
    pub nodes: usize,
    pub qdevice: bool,
    pub duration_s: u64,
    pub fault_kinds: Vec<FaultKind>,
    /// The schedule the seed gave, one line per fault.
    pub schedule: Vec<String>,
    pub faults: Vec<FaultRecord>,
    pub faults_by_kind: BTreeMap<FaultKind, usize>,
    pub operations: BTreeMap<String, OpCounts>,
    pub verdicts: Vec<Verdict>,
    pub longest_write_unavailability: Option<Gap>,
    pub longest_downtime: Vec<Downtime>,
    /// The most nodes a VM's QEMU process lived on at once (a live migration has two).
    pub max_qemu_nodes: BTreeMap<String, usize>,
    /// Where the cluster, its logs and this report are.
    pub dir: String,
    pub passed: bool,
}

impl Report {
    pub fn faults_by_kind(faults: &[FaultRecord]) -> BTreeMap<FaultKind, usize> {
        let mut m = BTreeMap::new();
        for f in faults {
            *m.entry(f.kind).or_insert(0) += 1;
        }
        m
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "brigade chaos run: seed {}, {} nodes{}, {} s, faults: {}",
            self.seed,
            self.nodes,
            if self.qdevice { " + qdevice" } else { "" },
            self.duration_s,
            self.fault_kinds
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(",")
        );
        let _ = writeln!(s, "\nfaults injected: {}", self.faults.len());
        for (k, n) in &self.faults_by_kind {
            let _ = writeln!(s, "  {:<18} {n}", k.name());
        }
        let _ = writeln!(s, "\noperations          ok   failed  unknown");
        for (k, c) in &self.operations {
            let _ = writeln!(
                s,
                "  {:<14} {:>7} {:>8} {:>8}",
                k, c.ok, c.failed, c.unknown
            );
        }
        let _ = writeln!(s);
        if let Some(g) = &self.longest_write_unavailability {
            let _ = writeln!(
                s,
                "longest write unavailability: {:.1} s ({:.1} s to {:.1} s)",
                g.seconds, g.from_s, g.to_s
            );
        }
        for d in &self.longest_downtime {
            let _ = writeln!(
                s,
                "longest downtime of {}: {:.1} s ({:.1} s to {:.1} s)",
                d.guest, d.gap.seconds, d.gap.from_s, d.gap.to_s
            );
        }
        for (vm, n) in &self.max_qemu_nodes {
            let _ = writeln!(s, "most nodes with a QEMU of {vm} at once: {n}");
        }
        let _ = writeln!(s, "\ncheckers:");
        for v in &self.verdicts {
            let _ = writeln!(
                s,
                "  {} {}: {}",
                if v.passed { "PASS" } else { "FAIL" },
                v.checker,
                v.summary
            );
            for l in &v.excerpt {
                let _ = writeln!(s, "      {l}");
            }
        }
        let _ = writeln!(
            s,
            "\n{} (cluster, logs and report in {})",
            if self.passed { "PASSED" } else { "FAILED" },
            self.dir
        );
        s
    }

    /// The faults as injected, one line each.
    pub fn fault_lines(&self) -> Vec<String> {
        self.faults
            .iter()
            .map(|f| {
                let healed = f
                    .healed
                    .map(|h| format!("{:.1} s", secs(h)))
                    .unwrap_or_else(|| "never".into());
                let note = f
                    .note
                    .as_deref()
                    .map(|n| format!(" [{n}]"))
                    .unwrap_or_default();
                format!(
                    "#{:<3} {:>7.1} s -> {healed}: {}{note}",
                    f.index,
                    secs(f.started),
                    f.description
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::build::write;

    #[test]
    fn counts_by_kind_and_outcome() {
        let mut w = write(0, "r", "b", 0, 1);
        w.outcome = Outcome::Unknown;
        let c = count_ops(&[write(0, "r", "a", 0, 1), w]);
        assert_eq!(
            c["write"],
            OpCounts {
                ok: 1,
                failed: 0,
                unknown: 1
            }
        );
        assert_eq!(c["total"].ok, 1);
    }
}
