//! Parsing what the node's and its guests' figures are read from: `/proc/stat`, `meminfo`,
//! `loadavg`, `net/dev`, `diskstats`, `/proc/PID/{stat,status,io}` (pure functions of the text).

/// Clock ticks per second of `/proc` CPU times (`USER_HZ`, 100 on every Linux ABI).
pub const USER_HZ: f64 = 100.0;

/// Bytes per sector in `/proc/diskstats`.
const SECTOR_BYTES: u64 = 512;

/// The whole machine's CPU time from `/proc/stat`: (busy ticks, all ticks, CPUs).
pub fn cpu_times(stat: &str) -> Option<(u64, u64, usize)> {
    let mut lines = stat.lines();
    let first = lines.next()?;
    let mut it = first.split_whitespace();
    if it.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = it.filter_map(|x| x.parse().ok()).collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest and guest_nice are in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    let cpus = stat
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .and_then(|r| r.chars().next())
                .is_some_and(|c| c.is_ascii_digit())
        })
        .count();
    Some((total.saturating_sub(idle), total, cpus.max(1)))
}

/// (used, total) bytes of memory from `/proc/meminfo` (used = total − available).
pub fn memory(meminfo: &str) -> Option<(u64, u64)> {
    let kib = |key: &str| -> Option<u64> {
        meminfo.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    let total = kib("MemTotal")?;
    let avail = kib("MemAvailable").or_else(|| kib("MemFree"))?;
    Some((total.saturating_sub(avail) * 1024, total * 1024))
}

/// The 1-minute load average from `/proc/loadavg`.
pub fn loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Bytes received and sent by every interface but `lo`, from `/proc/net/dev`.
pub fn net_bytes(dev: &str) -> (u64, u64) {
    dev.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            if name.trim() == "lo" {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            Some((*v.first()?, *v.get(8)?))
        })
        .fold((0, 0), |(i, o), (a, b)| (i + a, o + b))
}

/// A VM's network bytes (in, out) from the `net/dev` of its QEMU process's namespace:
/// the sum over its TAP devices (`tap{vmid}i{n}`, brigade_sdn's `tap_name`), seen from
/// the guest (what the TAP sends the guest received). None without a TAP (user-mode
/// networking has no counters outside QEMU).
pub fn tap_bytes(dev: &str, vmid: u32) -> Option<(u64, u64)> {
    let prefix = format!("tap{vmid}i");
    dev.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let index = name.trim().strip_prefix(&prefix)?;
            if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            Some((*v.get(8)?, *v.first()?))
        })
        .reduce(|(i, o), (a, b)| (i + a, o + b))
}

/// Bytes read and written by the disks for which `whole` holds, from `/proc/diskstats`.
pub fn disk_bytes(diskstats: &str, whole: impl Fn(&str) -> bool) -> (u64, u64) {
    diskstats
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f.get(2)?;
            if !whole(name) {
                return None;
            }
            let read: u64 = f.get(5)?.parse().ok()?;
            let written: u64 = f.get(9)?.parse().ok()?;
            Some((read * SECTOR_BYTES, written * SECTOR_BYTES))
        })
        .fold((0, 0), |(r, w), (a, b)| (r + a, w + b))
}

/// Is a `/sys/block` device a disk of its own (not a loop, RAM, device-mapper or RAID
/// device whose I/O is counted again on the disks under it)?
pub fn is_physical_disk(name: &str) -> bool {
    !["loop", "ram", "dm-", "md", "zram", "sr", "nbd"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// A process's CPU time (user + system ticks) from `/proc/PID/stat`.
pub fn process_cpu_ticks(stat: &str) -> Option<u64> {
    // The command may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 (index 0), utime field 14 (index 11), stime 15 (12).
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A process's resident memory in bytes from `/proc/PID/status`.
pub fn process_rss(status: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let kib: u64 = l
            .strip_prefix("VmRSS:")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kib * 1024)
    })
}

/// Bytes a process read from and wrote to storage, from `/proc/PID/io`.
pub fn process_io(io: &str) -> Option<(u64, u64)> {
    let get = |key: &str| {
        io.lines().find_map(|l| {
            l.strip_prefix(key)?
                .strip_prefix(':')?
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    Some((get("read_bytes")?, get("write_bytes")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_times_sum_busy_and_all_ticks() {
        let stat = "cpu  100 5 50 800 20 1 2 3 0 0\ncpu0 50 2 25 400 10 0 1 1 0 0\ncpu1 50 3 25 400 10 1 1 2 0 0\nintr 1 2\n";
        assert_eq!(cpu_times(stat), Some((161, 981, 2)));
        assert_eq!(cpu_times("intr 1\n"), None);
        assert_eq!(cpu_times(""), None);
    }

    #[test]
    fn memory_is_total_less_available() {
        let m = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    6000000 kB\n";
        assert_eq!(memory(m), Some((10_000_000 * 1024, 16_000_000 * 1024)));
        assert_eq!(
            memory("MemTotal: 100 kB\nMemFree: 40 kB\n"),
            Some((60 * 1024, 100 * 1024))
        );
        assert_eq!(memory("nothing"), None);
    }

    #[test]
    fn loadavg_is_the_first_figure() {
        assert_eq!(loadavg("0.52 0.40 0.30 1/200 1234\n"), Some(0.52));
        assert_eq!(loadavg(""), None);
    }

    #[test]
    fn net_bytes_skip_loopback() {
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 9999 10 0 0 0 0 0 0 9999 10 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n  tap1: 5 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n";
        assert_eq!(net_bytes(dev), (1005, 2007));
        assert_eq!(net_bytes(""), (0, 0));
    }

    #[test]
    fn tap_bytes_are_the_vms_taps_seen_from_the_guest() {
        let head = "Inter-|   Receive |  Transmit\n face |bytes    packets|bytes    packets\n";
        let tap = |name: &str, rx: u64, tx: u64| {
            format!("  {name}: {rx} 1 0 0 0 0 0 0 {tx} 1 0 0 0 0 0 0\n")
        };
        let dev = format!(
            "{head}{}{}{}{}{}",
            tap(&brigade_sdn::plug::tap_name(100, 0), 10, 1000),
            tap(&brigade_sdn::plug::tap_name(100, 1), 5, 500),
            tap(&brigade_sdn::plug::tap_name(1000, 0), 77, 77),
            tap("tap100ix", 99, 99),
            tap("eth0", 88, 88),
        );
        // The host receives what the guest sends: in = the TAPs' transmit.
        assert_eq!(tap_bytes(&dev, 100), Some((1500, 15)));
        assert_eq!(tap_bytes(&dev, 1000), Some((77, 77)));
        assert_eq!(tap_bytes(&dev, 10), None, "tap1000i0 is not VM 10's");
        assert_eq!(tap_bytes(head, 100), None);
    }

    #[test]
    fn disk_bytes_count_sectors_of_whole_disks() {
        let ds = "   8       0 sda 100 0 2000 0 50 0 4000 0 0 0 0\n   8       1 sda1 100 0 2000 0 50 0 4000 0 0 0 0\n 253 0 dm-0 1 0 8 0 1 0 8 0 0 0 0\n   7 0 loop0 1 0 8 0 0 0 0 0 0 0 0\n";
        let whole =
            |n: &str| is_physical_disk(n) && !n.ends_with(char::is_numeric) || n == "nvme0n1";
        assert_eq!(disk_bytes(ds, whole), (2000 * 512, 4000 * 512));
        assert!(!is_physical_disk("dm-0") && !is_physical_disk("loop3") && is_physical_disk("vda"));
    }

    #[test]
    fn process_figures_parse_even_with_odd_command_names() {
        let stat = "4242 (qemu (x) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 700 300 0 0 20 0 3 0 12345 1000000 500 18446744073709551615";
        assert_eq!(process_cpu_ticks(stat), Some(1000));
        assert_eq!(process_cpu_ticks("garbage"), None);
        assert_eq!(
            process_rss("Name:\tqemu\nVmRSS:\t  2048 kB\n"),
            Some(2 * 1024 * 1024)
        );
        assert_eq!(process_rss("Name: x\n"), None);
        let io = "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(process_io(io), Some((4096, 8192)));
        assert_eq!(process_io("rchar: 1\n"), None);
    }

    #[test]
    fn this_machine_parses() {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let (busy, total, cpus) = cpu_times(&read("/proc/stat")).expect("/proc/stat");
        assert!(busy <= total && cpus >= 1);
        let (used, total) = memory(&read("/proc/meminfo")).expect("/proc/meminfo");
        assert!(used <= total && total > 0);
        assert!(loadavg(&read("/proc/loadavg")).is_some());
        let me = std::process::id();
        assert!(process_cpu_ticks(&read(&format!("/proc/{me}/stat"))).is_some());
        assert!(process_rss(&read(&format!("/proc/{me}/status"))).is_some_and(|r| r > 0));
        assert!(process_io(&read(&format!("/proc/{me}/io"))).is_some());
    }
}
