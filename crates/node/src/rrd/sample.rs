//! One sample of the node or of a guest: counters read from `/proc`, turned into the
//! history's fields (CPU share, bytes, rates per second) against the previous reading.

use std::path::Path;
use std::time::Instant;

use super::procfs;

/// The fields of every history, in Proxmox's names (a guest's `loadavg` stays unknown).
pub const FIELDS: [&str; 9] = [
    "cpu",
    "maxcpu",
    "mem",
    "maxmem",
    "netin",
    "netout",
    "diskread",
    "diskwrite",
    "loadavg",
];

/// A sample's values, in the order of [`FIELDS`] (NaN: unknown).
pub type Values = [f64; 9];

/// Counters that only grow, read at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    pub at: Instant,
    /// Busy CPU ticks (node) or the process's CPU ticks (guest).
    pub busy: u64,
    /// All CPU ticks (node; 0 for a guest).
    pub total: u64,
    /// Bytes received and sent, when known.
    pub net: Option<(u64, u64)>,
    /// Bytes read and written, when known.
    pub disk: Option<(u64, u64)>,
}

/// What is read of the node at one instant.
#[derive(Debug, Clone, Copy)]
pub struct NodeReading {
    pub counters: Counters,
    pub cpus: usize,
    pub mem: Option<(u64, u64)>,
    pub load: Option<f64>,
}

/// What is read of a guest's process at one instant.
#[derive(Debug, Clone, Copy)]
pub struct GuestReading {
    pub counters: Counters,
    pub rss: Option<u64>,
}

/// A guest's configured size: CPUs and memory in bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuestLimits {
    pub cpus: f64,
    pub mem_bytes: f64,
}

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Whole disks of this machine: the entries of `/sys/block` that are not virtual.
fn physical_disks() -> Vec<String> {
    std::fs::read_dir("/sys/block")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| procfs::is_physical_disk(n))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the node's figures now.
pub fn read_node() -> Option<NodeReading> {
    let (busy, total, cpus) = procfs::cpu_times(&read("/proc/stat"))?;
    let disks = physical_disks();
    Some(NodeReading {
        counters: Counters {
            at: Instant::now(),
            busy,
            total,
            net: Some(procfs::net_bytes(&read("/proc/net/dev"))),
            disk: Some(procfs::disk_bytes(&read("/proc/diskstats"), |n| {
                disks.iter().any(|d| d == n)
            })),
        },
        cpus,
        mem: procfs::memory(&read("/proc/meminfo")),
        load: procfs::loadavg(&read("/proc/loadavg")),
    })
}

/// The processes in the PID namespace of `pid` (a container's), `pid` first; just
/// `pid` when the namespace is the host's (this daemon's).
fn namespace_pids(pid: i32) -> Vec<i32> {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    let Some(mine) = ns(&pid.to_string()) else {
        return vec![pid];
    };
    if ns("self").as_ref() == Some(&mine) {
        return vec![pid];
    }
    let others = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|p| *p != pid && ns(&p.to_string()).as_ref() == Some(&mine))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    std::iter::once(pid).chain(others).collect()
}

/// Reads guest `vmid` now: its processes' CPU time, memory and storage I/O (a VM's QEMU
/// process; every process of a container's PID namespace), and its network bytes: a
/// container's network namespace, a VM's TAP devices. A VM's user-mode network has no
/// counters outside QEMU: unknown.
pub fn read_guest(vmid: u32, pid: i32, container: bool) -> Option<GuestReading> {
    let busy = procfs::process_cpu_ticks(&read(format!("/proc/{pid}/stat")))?;
    let mut counters = Counters {
        at: Instant::now(),
        busy,
        total: 0,
        net: {
            let dev = read(format!("/proc/{pid}/net/dev"));
            if container {
                Some(procfs::net_bytes(&dev))
            } else {
                procfs::tap_bytes(&dev, vmid)
            }
        },
        disk: procfs::process_io(&read(format!("/proc/{pid}/io"))),
    };
    let mut rss = procfs::process_rss(&read(format!("/proc/{pid}/status")));
    if container {
        // A process that ended takes its counters along: the sum may go back, and
        // that sample's rates are then unknown (see `rate`).
        for p in namespace_pids(pid).into_iter().skip(1) {
            counters.busy +=
                procfs::process_cpu_ticks(&read(format!("/proc/{p}/stat"))).unwrap_or(0);
            if let (Some(d), Some((r, w))) = (
                counters.disk.as_mut(),
                procfs::process_io(&read(format!("/proc/{p}/io"))),
            ) {
                d.0 += r;
                d.1 += w;
            }
            if let (Some(m), Some(more)) = (
                rss.as_mut(),
                procfs::process_rss(&read(format!("/proc/{p}/status"))),
            ) {
                *m += more;
            }
        }
    }
    Some(GuestReading { counters, rss })
}

/// Bytes per second between two readings of a counter (NaN without both, or if it went back).
fn rate(prev: Option<u64>, cur: Option<u64>, secs: f64) -> f64 {
    match (prev, cur) {
        (Some(p), Some(c)) if c >= p && secs > 0.0 => (c - p) as f64 / secs,
        _ => f64::NAN,
    }
}

fn rates(prev: Option<&Counters>, cur: &Counters) -> (f64, [f64; 4]) {
    let secs = prev
        .map(|p| cur.at.saturating_duration_since(p.at).as_secs_f64())
        .unwrap_or(0.0);
    let pn = prev.and_then(|p| p.net);
    let pd = prev.and_then(|p| p.disk);
    (
        secs,
        [
            rate(pn.map(|n| n.0), cur.net.map(|n| n.0), secs),
            rate(pn.map(|n| n.1), cur.net.map(|n| n.1), secs),
            rate(pd.map(|d| d.0), cur.disk.map(|d| d.0), secs),
            rate(pd.map(|d| d.1), cur.disk.map(|d| d.1), secs),
        ],
    )
}

fn opt(v: Option<u64>) -> f64 {
    v.map_or(f64::NAN, |v| v as f64)
}

/// The node's sample: CPU busy share (0..1) since `prev`, memory, load, rates.
pub fn node_values(prev: Option<&Counters>, cur: &NodeReading) -> Values {
    let c = &cur.counters;
    let cpu = match prev {
        Some(p) if c.total > p.total && c.busy >= p.busy => {
            (c.busy - p.busy) as f64 / (c.total - p.total) as f64
        }
        _ => f64::NAN,
    };
    let (_, [netin, netout, diskread, diskwrite]) = rates(prev, c);
    [
        cpu,
        cur.cpus as f64,
        opt(cur.mem.map(|m| m.0)),
        opt(cur.mem.map(|m| m.1)),
        netin,
        netout,
        diskread,
        diskwrite,
        cur.load.unwrap_or(f64::NAN),
    ]
}

/// A guest's sample: CPU as a share of its configured CPUs (Proxmox's `cpu`), memory
/// (resident), its size, rates.
pub fn guest_values(prev: Option<&Counters>, cur: &GuestReading, limits: GuestLimits) -> Values {
    let (secs, [netin, netout, diskread, diskwrite]) = rates(prev, &cur.counters);
    let cpu = match prev {
        Some(p) if secs > 0.0 && cur.counters.busy >= p.busy => {
            (cur.counters.busy - p.busy) as f64 / procfs::USER_HZ / secs / limits.cpus.max(1.0)
        }
        _ => f64::NAN,
    };
    [
        cpu,
        limits.cpus,
        opt(cur.rss),
        limits.mem_bytes,
        netin,
        netout,
        diskread,
        diskwrite,
        f64::NAN,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn counters(at: Instant, busy: u64, total: u64, x: u64) -> Counters {
        Counters {
            at,
            busy,
            total,
            net: Some((x, 2 * x)),
            disk: Some((3 * x, 4 * x)),
        }
    }

    #[test]
    fn node_values_are_shares_and_rates() {
        let t0 = Instant::now();
        let prev = counters(t0, 100, 1000, 0);
        let cur = NodeReading {
            counters: counters(t0 + Duration::from_secs(10), 150, 1200, 1000),
            cpus: 4,
            mem: Some((1, 8)),
            load: Some(0.5),
        };
        let v = node_values(Some(&prev), &cur);
        assert_eq!(v, [0.25, 4.0, 1.0, 8.0, 100.0, 200.0, 300.0, 400.0, 0.5]);
        let first = node_values(None, &cur);
        assert!(first[0].is_nan() && first[4].is_nan() && first[7].is_nan());
        assert_eq!(first[2], 1.0);
    }

    #[test]
    fn guest_cpu_is_a_share_of_its_cpus_and_counters_going_back_are_unknown() {
        let t0 = Instant::now();
        let prev = counters(t0, 0, 0, 5000);
        // 2 s of CPU in 10 s on a 2-CPU guest: 10 %.
        let cur = GuestReading {
            counters: counters(t0 + Duration::from_secs(10), 200, 0, 1000),
            rss: Some(4096),
        };
        let limits = GuestLimits {
            cpus: 2.0,
            mem_bytes: 1024.0,
        };
        let v = guest_values(Some(&prev), &cur, limits);
        assert!((v[0] - 0.1).abs() < 1e-9);
        assert_eq!(&v[1..4], &[2.0, 4096.0, 1024.0]);
        assert!(v[4..8].iter().all(|x| x.is_nan()), "{v:?}");
        assert!(v[8].is_nan());
    }

    #[test]
    fn this_machine_and_this_process_are_read() {
        let n = read_node().expect("node");
        assert!(n.cpus >= 1 && n.mem.is_some());
        let g = read_guest(1, std::process::id() as i32, true).expect("process");
        assert!(g.rss.is_some() && g.counters.net.is_some());
        assert!(read_guest(1, i32::MAX, false).is_none());
        // This test runs in the host's PID namespace: only the process itself.
        assert_eq!(
            namespace_pids(std::process::id() as i32),
            vec![std::process::id() as i32]
        );
    }
}
