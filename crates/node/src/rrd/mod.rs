//! The node's graph histories: every 10 s the node and each running guest are sampled
//! into round-robin histories (`brigade-rrd`) kept in the state directory's `rrd/`.

mod moved;
pub mod procfs;
pub mod sample;

pub(crate) use moved::{receive_history, HISTORY_ROUTE};

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use brigade_api::rrd::RrdRow;
use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout::GuestKind;
use brigade_rrd::{Cf, Loaded, Rrd, Timeframe};

use crate::error::NodeError;
use crate::node::Node;
use sample::{Counters, GuestLimits, Values, FIELDS};

/// How often the node and its guests are sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(brigade_rrd::SAMPLE_STEP_SECS);

/// How often changed histories are written to their files (and at the daemon's stop):
/// a crash loses at most this much, and a node of many guests does not rewrite every
/// file every 10 s.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(60);

/// The histories' directory in the node's state directory.
pub const RRD_DIR: &str = "rrd";

/// Memory of a guest whose config gives none (MiB, Proxmox's default).
const DEFAULT_MEMORY_MIB: f64 = 512.0;

/// Whose history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Node,
    Guest(GuestKind, u32),
}

impl Subject {
    fn file_name(self) -> String {
        match self {
            Subject::Node => "node.rrd".into(),
            Subject::Guest(kind, vmid) => format!("{kind}-{vmid}.rrd"),
        }
    }
}

#[derive(Default)]
struct Inner {
    stores: HashMap<Subject, Rrd>,
    /// Histories changed since they were last written.
    dirty: std::collections::HashSet<Subject>,
    /// When the histories were last written.
    flushed: Option<std::time::Instant>,
    prev: HashMap<Subject, Counters>,
    /// Each guest running at the last sample, with its values (for `/metrics`).
    latest: BTreeMap<(GuestKind, u32), Values>,
}

/// The histories of this node and its guests.
pub struct RrdService {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

/// A running guest to sample: what it is, its process, its configured size.
#[derive(Debug, Clone, Copy)]
pub struct GuestToSample {
    pub kind: GuestKind,
    pub vmid: u32,
    pub pid: i32,
    pub limits: GuestLimits,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RrdService {
    /// Histories kept in `dir` (read when first needed).
    pub fn new(dir: PathBuf) -> RrdService {
        RrdService {
            dir,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The history of `s`, read from its file the first time (a damaged file is
    /// reported and started anew).
    fn store<'a>(&self, inner: &'a mut Inner, s: Subject) -> &'a mut Rrd {
        inner.stores.entry(s).or_insert_with(|| {
            let path = self.dir.join(s.file_name());
            match brigade_rrd::load_or_new(&path, &FIELDS) {
                Ok(Loaded::Replaced(r, why)) => {
                    tracing::warn!(file = %path.display(), error = %why, "graph history unusable, started anew");
                    r
                }
                Ok(l) => l.into_rrd(),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot read graph history, started anew");
                    Rrd::new(&FIELDS)
                }
            }
        })
    }

    /// Adds a sample of `s` taken at `time`.
    fn record(&self, inner: &mut Inner, s: Subject, time: u64, values: &Values) {
        let rrd = self.store(inner, s);
        if let Err(e) = rrd.update(time, values) {
            tracing::debug!(error = %e, "sample skipped");
            return;
        }
        inner.dirty.insert(s);
    }

    /// Writes every history changed since it was last written (blocking).
    pub fn flush(&self) {
        let mut inner = self.lock();
        self.flush_locked(&mut inner);
    }

    fn flush_locked(&self, inner: &mut Inner) {
        inner.flushed = Some(std::time::Instant::now());
        let dirty: Vec<Subject> = inner.dirty.drain().collect();
        if dirty.is_empty() {
            return;
        }
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot create the graph history directory");
            return;
        }
        for s in dirty {
            let Some(rrd) = inner.stores.get(&s) else {
                continue;
            };
            let path = self.dir.join(s.file_name());
            if let Err(e) = brigade_rrd::save(&path, rrd) {
                tracing::warn!(file = %path.display(), error = %e, "cannot write graph history");
            }
        }
    }

    /// Samples the node and `guests` now (blocking: reads `/proc`, writes the files).
    pub fn sample(&self, guests: &[GuestToSample]) {
        let time = unix_now();
        let mut inner = self.lock();
        if let Some(reading) = sample::read_node() {
            let v = sample::node_values(inner.prev.get(&Subject::Node), &reading);
            inner.prev.insert(Subject::Node, reading.counters);
            self.record(&mut inner, Subject::Node, time, &v);
        }
        let mut latest = BTreeMap::new();
        for g in guests {
            let s = Subject::Guest(g.kind, g.vmid);
            let Some(reading) = sample::read_guest(g.vmid, g.pid, g.kind == GuestKind::Lxc) else {
                continue;
            };
            let v = sample::guest_values(inner.prev.get(&s), &reading, g.limits);
            inner.prev.insert(s, reading.counters);
            latest.insert((g.kind, g.vmid), v);
            self.record(&mut inner, s, time, &v);
        }
        // A guest gone: its rates start over when it comes back.
        inner.prev.retain(|s, _| {
            matches!(s, Subject::Node)
                || matches!(s, Subject::Guest(k, v) if latest.contains_key(&(*k, *v)))
        });
        inner.latest = latest;
        if inner
            .flushed
            .is_none_or(|at| at.elapsed() >= FLUSH_INTERVAL)
        {
            self.flush_locked(&mut inner);
        }
    }

    /// The rows of `s`'s history for a timeframe, up to now.
    pub fn query(&self, s: Subject, tf: Timeframe, cf: Cf) -> Vec<RrdRow> {
        let mut inner = self.lock();
        let rrd = self.store(&mut inner, s);
        rrd.query(tf, cf, unix_now())
            .into_iter()
            .map(|(time, v)| {
                let f = |i: usize| v.get(i).copied().flatten();
                RrdRow {
                    time,
                    cpu: f(0),
                    maxcpu: f(1),
                    mem: f(2),
                    maxmem: f(3),
                    netin: f(4),
                    netout: f(5),
                    diskread: f(6),
                    diskwrite: f(7),
                    loadavg: f(8),
                }
            })
            .collect()
    }

    /// Each guest running at the last sample with its figures (order of [`FIELDS`]).
    pub fn latest_guests(&self) -> Vec<((GuestKind, u32), Values)> {
        self.lock().latest.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// Parses a query's timeframe and consolidation.
pub fn parse_query(timeframe: &str, cf: &str) -> Result<(Timeframe, Cf), NodeError> {
    let tf = timeframe
        .parse()
        .map_err(|e: brigade_rrd::UpdateError| NodeError::Invalid(e.to_string()))?;
    let cf = if cf.is_empty() {
        Cf::Average
    } else {
        cf.parse()
            .map_err(|e: brigade_rrd::UpdateError| NodeError::Invalid(e.to_string()))?
    };
    Ok((tf, cf))
}

impl Node {
    /// The guests running here with their configured CPUs and memory.
    fn guests_to_sample(&self) -> Vec<GuestToSample> {
        let rt = self.cluster();
        brigade_guest::running_guests(&self.guests.run)
            .into_iter()
            .map(|g| {
                let kv = rt
                    .zip(brigade_core::VmId::try_from(g.vmid).ok())
                    .and_then(|(rt, vmid)| {
                        rt.cfs
                            .read(&g.kind.config_path(&self.config.name, vmid))
                            .ok()
                    })
                    .and_then(|f| KeyValueConfig::parse(&String::from_utf8_lossy(&f.data)).ok())
                    .unwrap_or_default();
                let num =
                    |k: &str, d: f64| kv.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(d);
                let cpus = match g.kind {
                    GuestKind::Qemu => num("cores", 1.0) * num("sockets", 1.0),
                    GuestKind::Lxc => num("cores", 1.0),
                };
                // A container's process is its `unshare` supervisor; its figures are
                // those of its init (pid 1 inside) and the processes beside it.
                let pid = match g.kind {
                    GuestKind::Lxc => brigade_guest::container::init_pid(&self.guests.run, g.vmid)
                        .unwrap_or(g.pid),
                    GuestKind::Qemu => g.pid,
                };
                GuestToSample {
                    kind: g.kind,
                    vmid: g.vmid,
                    pid,
                    limits: GuestLimits {
                        cpus,
                        mem_bytes: num("memory", DEFAULT_MEMORY_MIB) * 1024.0 * 1024.0,
                    },
                }
            })
            .collect()
    }

    /// Samples the node and its guests every [`SAMPLE_INTERVAL`] until the node goes.
    pub async fn run_rrd_sampler(self: Arc<Self>) {
        let weak = Arc::downgrade(&self);
        drop(self);
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(node) = weak.upgrade() else { return };
            let guests = node.guests_to_sample();
            let _ = tokio::task::spawn_blocking(move || node.rrd.sample(&guests)).await;
        }
    }

    /// A history of this node or of a guest here, for a timeframe.
    pub async fn rrd_rows(
        self: &Arc<Self>,
        s: Subject,
        timeframe: &str,
        cf: &str,
    ) -> Result<Vec<RrdRow>, NodeError> {
        let (tf, cf) = parse_query(timeframe, cf)?;
        let node = self.clone();
        tokio::task::spawn_blocking(move || node.rrd.query(s, tf, cf))
            .await
            .map_err(NodeError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_kept_across_a_restart_and_a_damaged_file_starts_anew() {
        let dir = tempfile::tempdir().expect("tempdir");
        let me = GuestToSample {
            kind: GuestKind::Qemu,
            vmid: 100,
            pid: std::process::id() as i32,
            limits: GuestLimits {
                cpus: 1.0,
                mem_bytes: 1e9,
            },
        };
        let svc = RrdService::new(dir.path().to_path_buf());
        svc.sample(&[me]);
        // The first sample is written at once, the next ones once a flush interval passed.
        assert!(dir.path().join("node.rrd").exists());
        let written = std::fs::read(dir.path().join("node.rrd")).expect("node.rrd");
        std::thread::sleep(Duration::from_millis(1100));
        svc.sample(&[me]);
        assert_eq!(
            std::fs::read(dir.path().join("node.rrd")).expect("node.rrd"),
            written
        );
        svc.flush();
        assert_ne!(
            std::fs::read(dir.path().join("node.rrd")).expect("node.rrd"),
            written
        );
        assert!(dir.path().join("qemu-100.rrd").exists());
        let latest = svc.latest_guests();
        assert_eq!(latest.len(), 1);
        assert!(latest[0].1[2] > 0.0, "resident memory of this process");
        let rows = svc.query(Subject::Node, Timeframe::Hour, Cf::Average);
        assert_eq!(rows.len(), 360);
        assert!(rows.iter().any(|r| r.mem.is_some() && r.maxcpu.is_some()));
        drop(svc);
        // A restart reads it back.
        let again = RrdService::new(dir.path().to_path_buf());
        let rows = again.query(
            Subject::Guest(GuestKind::Qemu, 100),
            Timeframe::Hour,
            Cf::Max,
        );
        // Two samples 1 s apart: one 10 s bucket or two.
        let n = rows.iter().filter(|r| r.maxmem == Some(1e9)).count();
        assert!((1..=2).contains(&n), "{n} rows");
        assert!(again
            .query(
                Subject::Guest(GuestKind::Lxc, 7),
                Timeframe::Day,
                Cf::Average
            )
            .iter()
            .all(|r| r.cpu.is_none()));
        // A damaged file: reported, started anew, not a crash.
        std::fs::write(dir.path().join("node.rrd"), b"BRRD\x01 damaged").expect("write");
        let third = RrdService::new(dir.path().to_path_buf());
        assert!(third
            .query(Subject::Node, Timeframe::Hour, Cf::Average)
            .iter()
            .all(|r| r.mem.is_none()));
    }

    #[test]
    fn queries_are_checked() {
        assert!(parse_query("hour", "").is_ok());
        assert!(parse_query("year", "MAX").is_ok());
        assert!(matches!(
            parse_query("minute", ""),
            Err(NodeError::Invalid(_))
        ));
        assert!(matches!(
            parse_query("day", "MIN"),
            Err(NodeError::Invalid(_))
        ));
    }
}
