//! Witnesses of "never twice": the guest's own serial output (a copy that runs prints a
//! tick every second; a paused one prints nothing) and the QEMU processes per node.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brigade_localcluster::ProcCluster;

use crate::guests::qemu_processes_in;

/// How often the witnesses sample.
pub const WITNESS_INTERVAL: Duration = Duration::from_millis(100);
/// How often the process watch samples every node's QEMU processes.
pub const PROCESS_WATCH_INTERVAL: Duration = Duration::from_millis(50);
/// Two copies that both run print ticks closer than this on different nodes (their
/// one-second periods interleave); one copy that moved prints its next tick a second of
/// guest time (plus the downtime) after its last.
pub const TWO_COPIES_GAP: Duration = Duration::from_millis(700);

/// Records when each node's serial log of a VM grows.
pub struct TickWitness {
    stop: Arc<AtomicBool>,
    growth: Arc<Mutex<Vec<(usize, Instant)>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl TickWitness {
    pub fn start(c: &ProcCluster, vmid: u32) -> TickWitness {
        let logs: Vec<PathBuf> = (0..c.nodes.len())
            .map(|i| c.run_dir(i).join(format!("{vmid}.serial.log")))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let growth = Arc::new(Mutex::new(Vec::new()));
        let (s, g) = (stop.clone(), growth.clone());
        let handle = std::thread::spawn(move || {
            let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let mut last: Vec<u64> = logs.iter().map(size).collect();
            while !s.load(Ordering::SeqCst) {
                std::thread::sleep(WITNESS_INTERVAL);
                for (i, p) in logs.iter().enumerate() {
                    let now = size(p);
                    // A restart truncates the log: that is growth too.
                    if now != last[i] && now > 0 {
                        g.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((i, Instant::now()));
                    }
                    last[i] = now;
                }
            }
        });
        TickWitness {
            stop,
            growth,
            handle: Some(handle),
        }
    }

    /// Stops watching; returns the closest two outputs of different nodes came, with
    /// the nodes (None: at most one node printed anything).
    pub fn finish(mut self) -> Option<(Duration, usize, usize)> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let g = self
            .growth
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut best: Option<(Duration, usize, usize)> = None;
        for (k, (a, ta)) in g.iter().enumerate() {
            for (b, tb) in g.iter().skip(k + 1) {
                if a != b {
                    let d = tb
                        .saturating_duration_since(*ta)
                        .max(ta.saturating_duration_since(*tb));
                    if best.is_none_or(|(bd, _, _)| d < bd) {
                        best = Some((d, *a, *b));
                    }
                }
            }
        }
        best
    }

    /// Asserts no two nodes ran the guest at once.
    pub fn assert_once(self, what: &str) {
        if let Some((d, a, b)) = self.finish() {
            assert!(
                d >= TWO_COPIES_GAP,
                "{what}: the guest printed on nodes {a} and {b} within {d:?}: it ran twice"
            );
        }
    }
}

/// Watches every QEMU process of a VM every 50 ms; records on how many nodes one lived
/// at once (a live migration has two by design: use the tick witness there).
pub struct ProcessWatch {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicUsize>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ProcessWatch {
    pub fn start(c: &ProcCluster, vmid: u32) -> ProcessWatch {
        let dirs: Vec<String> = (0..c.nodes.len())
            .map(|i| c.run_dir(i).display().to_string())
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicUsize::new(0));
        let (s, m) = (stop.clone(), max.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let n = nodes_with_qemu(&dirs, vmid);
                if n > 1 && m.load(Ordering::SeqCst) <= 1 {
                    eprintln!(
                        "VM {vmid} alive on {n} nodes: {:?}",
                        qemu_processes_in(&dirs, vmid)
                    );
                }
                m.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(PROCESS_WATCH_INTERVAL);
            }
        });
        ProcessWatch {
            stop,
            max,
            handle: Some(handle),
        }
    }

    /// Stops watching; returns the most nodes a QEMU of the VM lived on at once.
    pub fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.max.load(Ordering::SeqCst)
    }
}

/// On how many nodes a QEMU for `vmid` is alive (QEMU's own daemonizing forks briefly
/// show several processes in one node's run dir: that is one node).
pub fn nodes_with_qemu(dirs: &[String], vmid: u32) -> usize {
    let pids = qemu_processes_in(dirs, vmid);
    dirs.iter()
        .filter(|d| pids.iter().any(|(_, args)| args.contains(d.as_str())))
        .count()
}
