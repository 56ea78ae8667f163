//! What an idle cluster costs in `bench scale`: CPU per daemon by Raft role, and memory
//! split into each daemon's own pages and the mapped files' (the binary's code).

use serde::Serialize;

use brigade_localcluster::ProcCluster;

/// Clock ticks per second of /proc/PID/stat's CPU times (USER_HZ, 100 on Linux x86-64).
const USER_HZ: f64 = 100.0;

/// CPU ticks of every daemon so far (0 for one not running).
pub fn cpu_ticks(c: &ProcCluster, nodes: usize) -> Vec<u64> {
    (0..nodes).map(|i| c.cpu_ticks(i).unwrap_or(0)).collect()
}

/// Milliseconds of CPU a second of one daemon's role while idle.
#[derive(Debug, Default, Serialize)]
pub struct CpuByRole {
    pub leader: f64,
    /// The median voter other than the leader.
    pub voter: f64,
    /// The median learner, and the busiest one.
    pub learner: f64,
    pub learner_max: f64,
}

/// Each daemon's CPU (ms/s) over `secs`, from ticks before and after.
pub fn per_daemon_ms_s(before: &[u64], after: &[u64], secs: f64) -> Vec<f64> {
    after
        .iter()
        .zip(before)
        .map(|(a, b)| a.saturating_sub(*b) as f64 / USER_HZ / secs * 1000.0)
        .collect()
}

/// Splits per-daemon CPU by role: `leader` and `voters` are indexes into `ms_s`.
pub fn by_role(ms_s: &[f64], leader: Option<usize>, voters: &[usize]) -> CpuByRole {
    let pick = |keep: &dyn Fn(usize) -> bool| -> Vec<f64> {
        ms_s.iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, v)| *v)
            .collect()
    };
    let voter = pick(&|i| voters.contains(&i) && Some(i) != leader);
    let learner = pick(&|i| !voters.contains(&i) && Some(i) != leader);
    CpuByRole {
        leader: leader
            .and_then(|l| ms_s.get(l).copied())
            .unwrap_or(f64::NAN),
        voter: super::percentile(&voter, 0.5),
        learner: super::percentile(&learner, 0.5),
        learner_max: super::percentile(&learner, 1.0),
    }
}

/// Resident memory per daemon, MiB: all, own (anonymous) pages, mapped files.
#[derive(Debug, Default, Serialize)]
pub struct Memory {
    pub rss: Vec<f64>,
    pub anon: Vec<f64>,
    pub file: Vec<f64>,
}

pub fn memory(c: &ProcCluster, nodes: usize) -> Memory {
    let mib = |k: u64| k as f64 / 1024.0;
    let mut m = Memory::default();
    for k in (0..nodes).filter_map(|i| c.memory_kib(i)) {
        m.rss.push(mib(k.rss));
        m.anon.push(mib(k.anon));
        m.file.push(mib(k.file));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_split_by_role() {
        let ms = per_daemon_ms_s(&[0, 0, 0, 0, 0], &[30, 10, 12, 2, 4], 10.0);
        assert_eq!(ms, vec![30.0, 10.0, 12.0, 2.0, 4.0]);
        let r = by_role(&ms, Some(0), &[0, 1, 2]);
        assert_eq!(r.leader, 30.0);
        assert_eq!(r.voter, 12.0);
        assert_eq!(r.learner_max, 4.0);
    }
}
