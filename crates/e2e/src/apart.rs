//! A witness of resource affinity: samples every 50 ms on which nodes two guests'
//! processes live and records any instant a negative pair shared a node or a positive
//! pair ran on two.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brigade_localcluster::ProcCluster;

/// How often the witness samples.
pub const APART_INTERVAL: Duration = Duration::from_millis(50);

/// What the two guests must keep to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affinity {
    /// Never on one node (a negative resource-affinity rule).
    Apart,
    /// Never on two nodes at once while both run (a positive one).
    Together,
}

/// Watches two guests (VMs or containers) of a cluster.
pub struct ApartWatch {
    stop: Arc<AtomicBool>,
    broken: Arc<Mutex<Vec<String>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// What one sample breaks: the node they share, or the two nodes they are split over.
fn breach(affinity: Affinity, at_a: &[String], at_b: &[String]) -> Option<String> {
    match affinity {
        Affinity::Apart => at_a.iter().find(|n| at_b.contains(n)).cloned(),
        Affinity::Together => {
            let (a, b) = (at_a.first()?, at_b.first()?);
            (a != b).then(|| format!("{a} and {b}"))
        }
    }
}

impl ApartWatch {
    /// Records every instant guests `a` and `b` share a node.
    pub fn start(c: &ProcCluster, a: u32, b: u32) -> ApartWatch {
        ApartWatch::watch(c, a, b, Affinity::Apart)
    }

    /// Records every instant guests `a` and `b` break `affinity`.
    pub fn watch(c: &ProcCluster, a: u32, b: u32, affinity: Affinity) -> ApartWatch {
        let dirs: Vec<(String, std::path::PathBuf)> = (0..c.nodes.len())
            .map(|i| (c.nodes[i].name.clone(), c.run_dir(i)))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let broken = Arc::new(Mutex::new(Vec::new()));
        let (s, br) = (stop.clone(), broken.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let (mut at_a, mut at_b) = (Vec::new(), Vec::new());
                for (name, dir) in &dirs {
                    let Ok(run) = brigade_guest::RunDir::open(dir) else {
                        continue;
                    };
                    for g in brigade_guest::running_guests(&run) {
                        if g.vmid == a {
                            at_a.push(name.clone());
                        }
                        if g.vmid == b {
                            at_b.push(name.clone());
                        }
                    }
                }
                if let Some(x) = breach(affinity, &at_a, &at_b) {
                    br.lock().unwrap_or_else(|e| e.into_inner()).push(x);
                }
                std::thread::sleep(APART_INTERVAL);
            }
        });
        ApartWatch {
            stop,
            broken,
            handle: Some(handle),
        }
    }

    /// Stops watching; the breaches seen (empty: none): for a negative pair the nodes
    /// they shared, for a positive one the node pairs they were split over.
    pub fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.broken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_breach_is_a_shared_node_or_a_split_pair() {
        let (n1, n2, none) = (nodes(&["n1"]), nodes(&["n2"]), nodes(&[]));
        assert_eq!(breach(Affinity::Apart, &n1, &n1), Some("n1".into()));
        assert_eq!(breach(Affinity::Apart, &n1, &n2), None);
        assert_eq!(
            breach(Affinity::Together, &n1, &n2),
            Some("n1 and n2".into())
        );
        assert_eq!(breach(Affinity::Together, &n1, &n1), None);
        // One of them not running (being recovered) breaks neither.
        assert_eq!(breach(Affinity::Together, &n1, &none), None);
        assert_eq!(breach(Affinity::Apart, &none, &n2), None);
    }
}
