//! A witness of negative affinity: samples every 50 ms on which nodes two guests'
//! processes live and records any instant they shared one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brigade_harness::ProcCluster;

/// How often the witness samples.
pub const APART_INTERVAL: Duration = Duration::from_millis(50);

/// Watches two guests (VMs or containers) of a cluster.
pub struct ApartWatch {
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ApartWatch {
    pub fn start(c: &ProcCluster, a: u32, b: u32) -> ApartWatch {
        let dirs: Vec<(String, std::path::PathBuf)> = (0..c.nodes.len())
            .map(|i| (c.nodes[i].name.clone(), c.run_dir(i)))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Vec::new()));
        let (s, sh) = (stop.clone(), shared.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                for (name, dir) in &dirs {
                    let Ok(run) = brigade_guest::RunDir::open(dir) else {
                        continue;
                    };
                    let here: Vec<u32> = brigade_guest::running_guests(&run)
                        .into_iter()
                        .map(|g| g.vmid)
                        .collect();
                    if here.contains(&a) && here.contains(&b) {
                        sh.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(name.clone());
                    }
                }
                std::thread::sleep(APART_INTERVAL);
            }
        });
        ApartWatch {
            stop,
            shared,
            handle: Some(handle),
        }
    }

    /// Stops watching; the nodes on which the two were seen together (empty: never).
    pub fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
