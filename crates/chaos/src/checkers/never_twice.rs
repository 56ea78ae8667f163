//! Never twice: no guest ran on two nodes at one instant.
//!
//! VMs are judged by their own output, since a QEMU process alone does not say whether
//! its guest runs (a live migration's source and target both exist, one of them
//! paused). Each VM's witness disk (on shared storage) gets a record `BOOT N G` every
//! 100 ms from the guest itself: BOOT names the boot, N counts its records, G is one
//! more than the highest G on the disk when the boot began. If two boots ever ran at
//! once, the one started second continued from a G the first kept writing past, so
//! their records interleave in G or collide on one G. A live-migrated copy is the same
//! boot continuing; two copies of one boot (a migration whose source resumed while the
//! target ran) write identical records, so the serial consoles are watched too: the
//! guest prints a tick a second, and two nodes' consoles growing within
//! [`TWO_COPIES_GAP`] means two copies ran (one copy that moved prints its next tick a
//! second of guest time after its last). Containers cannot be paused by a migration:
//! their processes, sampled every 20 ms, must never live on two nodes at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checkers::Verdict;
use crate::history::{secs, Micros};

pub const CHECKER: &str = "never twice";
/// Two nodes' consoles of one VM growing closer than this: two copies ran.
pub const TWO_COPIES_GAP: Micros = 500_000;

/// A witness record as the host read it from a VM's disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessRecord {
    pub vmid: u32,
    pub boot: String,
    pub n: u64,
    pub g: u64,
    /// When the host first saw it.
    pub seen: Micros,
}

/// A VM's serial console grew on `node`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleGrowth {
    pub vmid: u32,
    pub node: String,
    pub at: Micros,
}

/// One guest process's life as the sampler saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessLife {
    pub vmid: u32,
    pub vm: bool,
    pub node: String,
    pub pid: i32,
    /// Its start (from /proc, precise to 10 ms).
    pub start: Micros,
    /// The last sample that saw it alive.
    pub last_seen: Micros,
}

/// What the witnesses collected.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Evidence {
    pub records: Vec<WitnessRecord>,
    pub growth: Vec<ConsoleGrowth>,
    pub lives: Vec<ProcessLife>,
}

fn record_line(r: &WitnessRecord) -> String {
    format!(
        "  VM {} record G={} of boot {} (its #{}) seen at {:.3} s",
        r.vmid,
        r.g,
        r.boot,
        r.n,
        secs(r.seen)
    )
}

/// Records of one VM, interleaving boots or colliding on a G.
fn check_disk(vmid: u32, records: &[&WitnessRecord], problems: &mut Vec<String>) {
    let mut by_g: BTreeMap<u64, Vec<&WitnessRecord>> = BTreeMap::new();
    for r in records {
        let at = by_g.entry(r.g).or_default();
        if !at.iter().any(|o| o.boot == r.boot && o.n == r.n) {
            at.push(r);
        }
    }
    let mut finished: Vec<&str> = Vec::new();
    let mut current: Option<&WitnessRecord> = None;
    for (g, at) in &by_g {
        if at.len() > 1 {
            problems.push(format!(
                "VM {vmid}: two writers at G={g}: boots {}",
                at.iter()
                    .map(|r| r.boot.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
            problems.extend(at.iter().map(|r| record_line(r)));
            continue;
        }
        let r = at[0];
        match current {
            Some(c) if c.boot == r.boot && r.n <= c.n => {
                problems.push(format!(
                    "VM {vmid}: boot {} went back from its record #{} to #{} at G={g}: two copies of it wrote",
                    r.boot, c.n, r.n
                ));
                problems.push(record_line(c));
                problems.push(record_line(r));
            }
            Some(c) if c.boot == r.boot => {}
            Some(c) => {
                if finished.contains(&r.boot.as_str()) {
                    problems.push(format!(
                        "VM {vmid}: boot {} wrote again at G={g} after boot {} had begun: both ran",
                        r.boot, c.boot
                    ));
                    problems.push(record_line(c));
                    problems.push(record_line(r));
                }
                finished.push(c.boot.as_str());
            }
            None => {}
        }
        current = Some(r);
    }
}

/// Consoles of one VM growing on two nodes too close together.
fn check_consoles(vmid: u32, growth: &[&ConsoleGrowth], problems: &mut Vec<String>) {
    let mut g: Vec<&&ConsoleGrowth> = growth.iter().collect();
    g.sort_by_key(|x| x.at);
    for w in g.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a.node != b.node && b.at - a.at < TWO_COPIES_GAP {
            problems.push(format!(
                "VM {vmid}: its console grew on {} at {:.3} s and on {} at {:.3} s: two copies ran",
                a.node,
                secs(a.at),
                b.node,
                secs(b.at)
            ));
        }
    }
}

fn life_line(l: &ProcessLife) -> String {
    format!(
        "  {} {} on {} pid {}: started {:.3} s, last seen alive {:.3} s",
        if l.vm { "VM" } else { "container" },
        l.vmid,
        l.node,
        l.pid,
        secs(l.start),
        secs(l.last_seen)
    )
}

/// Container processes of one guest alive on two nodes at once.
fn check_processes(vmid: u32, lives: &[&ProcessLife], problems: &mut Vec<String>) {
    for (i, a) in lives.iter().enumerate() {
        for b in &lives[i + 1..] {
            if a.node != b.node && a.start < b.last_seen && b.start < a.last_seen {
                problems.push(format!(
                    "container {vmid} ran on {} and {} at once",
                    a.node, b.node
                ));
                problems.push(life_line(a));
                problems.push(life_line(b));
            }
        }
    }
}

/// The most nodes a VM's QEMU lived on at once (two during a live migration).
pub fn max_qemu_nodes(lives: &[ProcessLife], vmid: u32) -> usize {
    let mine: Vec<&ProcessLife> = lives.iter().filter(|l| l.vm && l.vmid == vmid).collect();
    mine.iter()
        .map(|a| {
            let mut nodes: Vec<&str> = mine
                .iter()
                .filter(|b| b.start <= a.start && a.start <= b.last_seen)
                .map(|b| b.node.as_str())
                .collect();
            nodes.sort_unstable();
            nodes.dedup();
            nodes.len()
        })
        .max()
        .unwrap_or(0)
}

/// The verdict for VMs `vms` (witness disks and consoles) and containers `cts`.
pub fn check(e: &Evidence, vms: &[u32], cts: &[u32]) -> Verdict {
    let mut problems = Vec::new();
    for &vmid in vms {
        let records: Vec<&WitnessRecord> = e.records.iter().filter(|r| r.vmid == vmid).collect();
        check_disk(vmid, &records, &mut problems);
        let growth: Vec<&ConsoleGrowth> = e.growth.iter().filter(|g| g.vmid == vmid).collect();
        check_consoles(vmid, &growth, &mut problems);
    }
    for &vmid in cts {
        let lives: Vec<&ProcessLife> = e.lives.iter().filter(|l| !l.vm && l.vmid == vmid).collect();
        check_processes(vmid, &lives, &mut problems);
    }
    let boots: usize = {
        let mut b: Vec<(u32, &str)> = e
            .records
            .iter()
            .map(|r| (r.vmid, r.boot.as_str()))
            .collect();
        b.sort_unstable();
        b.dedup();
        b.len()
    };
    let what = format!(
        "{} VMs ({} witness records, {boots} boots), {} containers ({} process lives)",
        vms.len(),
        e.records.len(),
        cts.len(),
        e.lives.iter().filter(|l| !l.vm).count()
    );
    if problems.is_empty() {
        Verdict::pass(CHECKER, format!("{what}: never on two nodes at once"))
    } else {
        Verdict::fail(CHECKER, format!("{what}: {}", problems[0]), problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(boot: &str, n: u64, g: u64) -> WitnessRecord {
        WitnessRecord {
            vmid: 100,
            boot: boot.into(),
            n,
            g,
            seen: g * 100_000,
        }
    }

    fn life(node: &str, start: u64, last: u64) -> ProcessLife {
        ProcessLife {
            vmid: 201,
            vm: false,
            node: node.into(),
            pid: 7,
            start: start * 1000,
            last_seen: last * 1000,
        }
    }

    fn growth(node: &str, at: u64) -> ConsoleGrowth {
        ConsoleGrowth {
            vmid: 100,
            node: node.into(),
            at,
        }
    }

    #[test]
    fn successive_boots_and_a_migrated_boot_pass() {
        let mut records: Vec<WitnessRecord> = (1..=5).map(|g| rec("a", g, g)).collect();
        records.extend((1..=5).map(|n| rec("b", n, 5 + n)));
        let e = Evidence {
            records,
            growth: vec![growth("n1", 1_000_000), growth("n2", 2_050_000)],
            lives: vec![life("n1", 0, 100), life("n2", 150, 300)],
        };
        let v = check(&e, &[100], &[201]);
        assert!(v.passed, "{v:?}");
    }

    #[test]
    fn interleaved_boots_fail() {
        let e = Evidence {
            records: vec![
                rec("a", 1, 1),
                rec("a", 2, 2),
                rec("b", 1, 3),
                rec("a", 3, 4),
            ],
            ..Evidence::default()
        };
        let v = check(&e, &[100], &[]);
        assert!(!v.passed);
        assert!(v.summary.contains("both ran"), "{v:?}");
    }

    #[test]
    fn two_boots_at_one_position_fail() {
        let e = Evidence {
            records: vec![rec("a", 1, 1), rec("a", 2, 2), rec("b", 1, 2)],
            ..Evidence::default()
        };
        assert!(!check(&e, &[100], &[]).passed);
    }

    #[test]
    fn a_double_run_of_a_container_fails() {
        let e = Evidence {
            lives: vec![life("n1", 0, 100), life("n2", 90, 300)],
            ..Evidence::default()
        };
        let v = check(&e, &[], &[201]);
        assert!(!v.passed);
        assert!(v.excerpt.iter().any(|l| l.contains("on n2")), "{v:?}");
    }

    #[test]
    fn two_consoles_growing_together_fail() {
        let e = Evidence {
            growth: vec![growth("n1", 1_000_000), growth("n2", 1_200_000)],
            ..Evidence::default()
        };
        assert!(!check(&e, &[100], &[]).passed);
    }
}
