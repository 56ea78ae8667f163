//! The witnesses' sampler: a thread that every 20 ms reads every guest process of the
//! cluster from /proc (which node's run directory it belongs to, when it started,
//! whether it is alive), notes each VM console's growth, and every 100 ms reads the
//! VMs' witness disks. QMP is not asked: the daemons hold the monitors.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::checkers::never_twice::{ConsoleGrowth, Evidence, ProcessLife};
use crate::history::{History, Micros};
use crate::witness::DiskWatch;

/// How often guest processes and consoles are sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(20);
/// The witness disks are read every this many samples (100 ms).
const DISK_EVERY: u32 = 5;

/// What the sampler watches.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Node names with their run directories.
    pub nodes: Vec<(String, PathBuf)>,
    /// VMs' witness disk images.
    pub vm_disks: BTreeMap<u32, PathBuf>,
}

/// A new process is classified again for this long: between fork and exec it still
/// looks like its parent (a container supervisor starts as a fork of the daemon).
const RECLASSIFY_US: Micros = 1_000_000;

#[derive(Debug, Clone)]
struct Known {
    /// Index into the evidence's lives.
    life: usize,
    vmid: u32,
    node: String,
}

#[derive(Debug, Clone)]
enum Seen {
    Ours(Known),
    /// Not a guest of ours (as of its first sight).
    Other {
        since: Micros,
    },
}

/// The running sampler.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    evidence: Arc<Mutex<Evidence>>,
    live: Arc<Mutex<BTreeMap<u32, Vec<String>>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// State and start time (clock ticks since boot) from /proc/PID/stat.
fn stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.first()?.chars().next()?, f.get(19)?.parse().ok()?))
}

/// Which guest of which node `pid` is: QEMU names itself `brigade-VMID,` and its
/// sockets lie in its node's run directory; a container's supervisor is `unshare
/// --root=...` whose output goes to `RUN/ct-VMID.log`.
fn classify(pid: i32, nodes: &[(String, String)]) -> Option<(u32, bool, String)> {
    let args = brigade_guest::process::cmdline(pid);
    let node_of = |path: &str| {
        nodes
            .iter()
            .find(|(_, d)| path.contains(&format!("{d}/")))
            .map(|(n, _)| n.clone())
    };
    if let Some(vmid) = args.iter().find_map(|a| {
        let digits: String = a
            .strip_prefix("brigade-")?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<u32>().ok()
    }) {
        let node = args.iter().find_map(|a| node_of(a))?;
        return Some((vmid, true, node));
    }
    // `setsid unshare ...` until setsid execs unshare.
    let supervisor = args.iter().take(2).any(|a| a.ends_with("unshare"))
        && args.iter().any(|a| a.starts_with("--root="));
    if supervisor {
        let out = std::fs::read_link(format!("/proc/{pid}/fd/1")).ok()?;
        let out = out.to_string_lossy();
        let node = node_of(&out)?;
        let vmid = out
            .rsplit('/')
            .next()?
            .strip_prefix("ct-")?
            .strip_suffix(".log")?
            .parse()
            .ok()?;
        return Some((vmid, false, node));
    }
    None
}

struct Loop {
    watched: Watched,
    dirs: Vec<(String, String)>,
    history: History,
    /// Boot clock (µs) at the run's time zero.
    boot_origin: u64,
    tick_us: u64,
    /// Pids seen in the last scan.
    pids: HashMap<i32, Seen>,
    consoles: HashMap<(u32, String), u64>,
    disks: Vec<DiskWatch>,
}

fn boot_micros() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

impl Loop {
    fn scan(&mut self, ev: &mut Evidence, now: Micros) {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return;
        };
        let present: Vec<i32> = rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect();
        let mut next = HashMap::with_capacity(present.len());
        for pid in present {
            let seen = match self.pids.remove(&pid) {
                Some(Seen::Ours(k)) => Seen::Ours(k),
                Some(Seen::Other { since }) if now.saturating_sub(since) > RECLASSIFY_US => {
                    Seen::Other { since }
                }
                earlier => {
                    let since = match earlier {
                        Some(Seen::Other { since }) => since,
                        _ => now,
                    };
                    match self.identify(pid, ev, now) {
                        Some(k) => Seen::Ours(k),
                        None => Seen::Other { since },
                    }
                }
            };
            if let Seen::Ours(k) = &seen {
                if matches!(stat(pid), Some((s, _)) if !matches!(s, 'Z' | 'X' | 'T')) {
                    ev.lives[k.life].last_seen = now;
                }
            }
            next.insert(pid, seen);
        }
        self.pids = next;
    }

    /// A new life if `pid` is one of our guests.
    fn identify(&self, pid: i32, ev: &mut Evidence, now: Micros) -> Option<Known> {
        let (vmid, vm, node) = classify(pid, &self.dirs)?;
        let (_, ticks) = stat(pid)?;
        let started = (ticks * self.tick_us).saturating_sub(self.boot_origin);
        ev.lives.push(ProcessLife {
            vmid,
            vm,
            node: node.clone(),
            pid,
            start: started,
            last_seen: now,
        });
        Some(Known {
            life: ev.lives.len() - 1,
            vmid,
            node,
        })
    }

    fn consoles(&mut self, ev: &mut Evidence, now: Micros) {
        for vmid in self.watched.vm_disks.keys() {
            for (node, dir) in &self.watched.nodes {
                let size = std::fs::metadata(dir.join(format!("{vmid}.serial.log")))
                    .map(|m| m.len())
                    .unwrap_or(0);
                let last = self.consoles.insert((*vmid, node.clone()), size);
                if size > 0 && last.is_some_and(|l| l != size) {
                    ev.growth.push(ConsoleGrowth {
                        vmid: *vmid,
                        node: node.clone(),
                        at: now,
                    });
                }
            }
        }
    }

    fn live_view(&self, ev: &Evidence, now: Micros) -> BTreeMap<u32, Vec<String>> {
        let mut m: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for seen in self.pids.values() {
            let Seen::Ours(k) = seen else { continue };
            if ev.lives[k.life].last_seen == now {
                let nodes = m.entry(k.vmid).or_default();
                if !nodes.contains(&k.node) {
                    nodes.push(k.node.clone());
                }
            }
        }
        m
    }
}

impl Sampler {
    pub fn start(watched: Watched, history: History) -> Sampler {
        let dirs = watched
            .nodes
            .iter()
            .map(|(n, d)| (n.clone(), d.display().to_string()))
            .collect();
        let tick_us = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|t| *t > 0)
            .map(|t| 1_000_000 / t as u64)
            .unwrap_or(10_000);
        let boot_origin = boot_micros().saturating_sub(history.now());
        let disks = watched
            .vm_disks
            .iter()
            .map(|(v, p)| DiskWatch::new(*v, p.clone()))
            .collect();
        let mut lp = Loop {
            watched,
            dirs,
            history,
            boot_origin,
            tick_us,
            pids: HashMap::new(),
            consoles: HashMap::new(),
            disks,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let evidence = Arc::new(Mutex::new(Evidence::default()));
        let live = Arc::new(Mutex::new(BTreeMap::new()));
        let (s, e, l) = (stop.clone(), evidence.clone(), live.clone());
        let handle = std::thread::Builder::new()
            .name("chaos-sampler".into())
            .spawn(move || {
                let mut n = 0u32;
                while !s.load(Ordering::SeqCst) {
                    let now = lp.history.now();
                    {
                        let mut ev = lock(&e);
                        lp.scan(&mut ev, now);
                        lp.consoles(&mut ev, now);
                        if n % DISK_EVERY == 0 {
                            for d in &mut lp.disks {
                                let recs = d.poll(now);
                                ev.records.extend(recs);
                            }
                        }
                        *lock(&l) = lp.live_view(&ev, now);
                    }
                    n = n.wrapping_add(1);
                    std::thread::sleep(SAMPLE_INTERVAL);
                }
            })
            .ok();
        Sampler {
            stop,
            evidence,
            live,
            handle,
        }
    }

    /// The nodes where a process of `vmid` lives now.
    pub fn running_on(&self, vmid: u32) -> Vec<String> {
        lock(&self.live).get(&vmid).cloned().unwrap_or_default()
    }

    /// The newest witness record of `vmid` so far: when it was seen.
    pub fn last_record(&self, vmid: u32) -> Option<Micros> {
        lock(&self.evidence)
            .records
            .iter()
            .rev()
            .find(|r| r.vmid == vmid)
            .map(|r| r.seen)
    }

    /// Stops sampling; everything collected.
    pub fn finish(mut self) -> Evidence {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        std::mem::take(&mut *lock(&self.evidence))
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
