//! Usage from /proc: the machine's CPU time and memory, and the CPU time and resident
//! memory of each session (a guest's process tree: QEMU daemonizes into a session of
//! its own, a container's `setsid unshare` starts one).

use std::collections::{BTreeMap, BTreeSet};

/// Page size assumed when sysconf cannot tell.
const DEFAULT_PAGE_SIZE: u64 = 4096;

/// CPU time since boot, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
    pub cpus: usize,
}

/// The first line of /proc/stat (all CPUs) and the number of `cpuN` lines.
pub fn parse_stat(text: &str) -> Option<CpuTimes> {
    let mut lines = text.lines();
    let first = lines.next()?;
    let v: Vec<u64> = first
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is within user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    let cpus = text
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
        cpus: cpus.max(1),
    })
}

/// MemTotal and MemAvailable of /proc/meminfo, in KiB.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

/// Session id, utime + stime (ticks) and resident pages from /proc/PID/stat.
pub fn parse_pid_stat(text: &str) -> Option<(i32, u64, u64)> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): session is field 6, utime 14, stime 15, rss 24.
    let session = f.get(3)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    let rss: u64 = f.get(21)?.parse().ok()?;
    Some((session, utime + stime, rss))
}

/// The machine's CPU times now.
pub fn cpu_times() -> Option<CpuTimes> {
    parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// MemTotal and MemAvailable now (MiB).
pub fn memory_mib() -> Option<(u64, u64)> {
    let (t, a) = parse_meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)?;
    Some((t / 1024, a / 1024))
}

/// The session of `pid`.
pub fn session_of(pid: i32) -> Option<i32> {
    parse_pid_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?).map(|s| s.0)
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(DEFAULT_PAGE_SIZE)
}

/// CPU ticks and resident memory (KiB) of every process in `sessions`, summed per session.
pub fn sessions(wanted: &BTreeSet<i32>) -> BTreeMap<i32, (u64, u64)> {
    let mut out: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
    if wanted.is_empty() {
        return out;
    }
    let page_kib = page_size() / 1024;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Some((session, ticks, rss)) = std::fs::read_to_string(e.path().join("stat"))
            .ok()
            .and_then(|t| parse_pid_stat(&t))
        else {
            continue;
        };
        if wanted.contains(&session) {
            let s = out.entry(session).or_default();
            s.0 += ticks;
            s.1 += rss * page_kib;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        let stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\ncpu1 50 0 25 400 25 0 0 0 0 0\nintr 1\n";
        assert_eq!(
            parse_stat(stat),
            Some(CpuTimes {
                busy: 150,
                total: 1000,
                cpus: 2
            })
        );
        let mem = "MemTotal:       8000000 kB\nMemFree:  1 kB\nMemAvailable:   6000000 kB\n";
        assert_eq!(parse_meminfo(mem), Some((8_000_000, 6_000_000)));
        let pid = "4242 (qemu-system-x86 (a)) S 1 4240 4240 0 -1 4194624 100 0 0 0 300 45 0 0 20 0 3 0 1234 500000000 3000 18446744073709551615";
        assert_eq!(parse_pid_stat(pid), Some((4240, 345, 3000)));
        assert_eq!(parse_stat("intr 1\n"), None);
        assert_eq!(parse_pid_stat("garbage"), None);
    }

    #[test]
    fn this_machine_has_cpus_memory_and_a_session() {
        let t = cpu_times().expect("/proc/stat");
        assert!(t.cpus >= 1 && t.total >= t.busy);
        let (total, avail) = memory_mib().expect("/proc/meminfo");
        assert!(total > 0 && avail <= total);
        let me = std::process::id() as i32;
        let s = session_of(me).expect("own session");
        let sessions = sessions(&[s].into());
        assert!(
            sessions.get(&s).is_some_and(|(_, rss)| *rss > 0),
            "{sessions:?}"
        );
    }
}
