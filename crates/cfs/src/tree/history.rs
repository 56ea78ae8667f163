//! The previous versions of every file (beyond pmxcfs): kept by the state machine as it
//! applies each command, so every replica keeps the same ones; bounded per file, in age
//! and in bytes. A deleted (or moved away) file keeps its last content.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

/// Previous versions kept per file (the oldest goes first).
pub const HISTORY_MAX_VERSIONS: usize = 20;
/// A previous version is dropped once it was replaced this long ago (7 days), by
/// the leader's clock as recorded in the log: the same on every replica.
pub const HISTORY_MAX_AGE_SECS: u64 = 7 * 24 * 3600;
/// All previous versions together stay within this many bytes (data, path and
/// [`RECORD_OVERHEAD_BYTES`] each), the oldest replaced dropped first.
pub const HISTORY_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// What one kept version costs beyond its data and path (so that many empty
/// versions are bounded too).
pub const RECORD_OVERHEAD_BYTES: u64 = 64;
/// Files under this directory keep no history: a rotated key or a revoked token
/// must really be gone.
pub const NO_HISTORY_DIR: &str = "priv";

/// One previous content of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldVersion {
    /// The cluster version that wrote this content (the file's version then).
    pub version: u64,
    /// When it was written (leader's wall clock, seconds).
    pub mtime: u64,
    /// The cluster version of the change that replaced or removed it.
    pub replaced_version: u64,
    /// When that change happened.
    pub replaced_mtime: u64,
    /// The change removed the file (deleted, or renamed away).
    pub deleted: bool,
    #[serde(with = "crate::b64")]
    pub data: Vec<u8>,
}

/// One kept version with its path, as snapshots and the state file store them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub path: String,
    #[serde(flatten)]
    pub old: OldVersion,
}

/// Whether files at `path` keep previous versions: not under [`NO_HISTORY_DIR`], nor
/// the cluster log (a log keeps its own bounded past; rewritten often and large, its
/// versions would fill the bound and the state file).
pub fn keeps_history(path: &str) -> bool {
    path != NO_HISTORY_DIR
        && !path.starts_with(&format!("{NO_HISTORY_DIR}/"))
        && path != brigade_core::layout::CLUSTER_LOG
}

fn cost(path: &str, old: &OldVersion) -> u64 {
    path.len() as u64 + old.data.len() as u64 + RECORD_OVERHEAD_BYTES
}

/// Every kept version. Deterministic: it changes only through [`History::record`]
/// and [`History::prune`], called by the tree with the command's own time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<HistoryRecord>", into = "Vec<HistoryRecord>")]
pub struct History {
    /// Per file, oldest first.
    files: BTreeMap<String, VecDeque<OldVersion>>,
    /// Every kept version by (replaced_version, path): the oldest replaced first.
    order: BTreeSet<(u64, String)>,
    bytes: u64,
    /// Versions added or dropped since the last call of `take_touched`: (path, version).
    touched: BTreeSet<(String, u64)>,
}

impl PartialEq for History {
    /// Logical equality: the bookkeeping of versions to persist is not part of the state.
    fn eq(&self, other: &Self) -> bool {
        self.files == other.files && self.bytes == other.bytes
    }
}

impl Eq for History {}

impl From<Vec<HistoryRecord>> for History {
    fn from(records: Vec<HistoryRecord>) -> History {
        let mut h = History::default();
        for r in records {
            h.insert(r.path, r.old);
        }
        h.touched.clear();
        h
    }
}

impl From<History> for Vec<HistoryRecord> {
    fn from(h: History) -> Vec<HistoryRecord> {
        h.records().collect()
    }
}

impl History {
    /// Keeps `old` as a previous version of `path`, then drops what exceeds the
    /// per-file count.
    pub fn record(&mut self, path: &str, old: OldVersion) {
        if !keeps_history(path) {
            return;
        }
        self.insert(path.to_string(), old);
        while self
            .files
            .get(path)
            .is_some_and(|q| q.len() > HISTORY_MAX_VERSIONS)
        {
            self.pop_oldest_of(path);
        }
    }

    /// Drops versions replaced more than [`HISTORY_MAX_AGE_SECS`] before `now`,
    /// then the oldest replaced ones while over [`HISTORY_MAX_BYTES`].
    pub fn prune(&mut self, now: u64) {
        while let Some((replaced, path)) = self.order.first().cloned() {
            let old_enough = self
                .files
                .get(&path)
                .and_then(|q| q.front())
                .is_some_and(|o| o.replaced_mtime.saturating_add(HISTORY_MAX_AGE_SECS) < now);
            if !(old_enough || self.bytes > HISTORY_MAX_BYTES) {
                break;
            }
            debug_assert!(self.files[&path].front().map(|o| o.replaced_version) == Some(replaced));
            self.pop_oldest_of(&path);
        }
    }

    fn insert(&mut self, path: String, old: OldVersion) {
        self.bytes += cost(&path, &old);
        self.order.insert((old.replaced_version, path.clone()));
        self.touched.insert((path.clone(), old.version));
        self.files.entry(path).or_default().push_back(old);
    }

    fn pop_oldest_of(&mut self, path: &str) {
        let Some(q) = self.files.get_mut(path) else {
            return;
        };
        if let Some(o) = q.pop_front() {
            self.bytes -= cost(path, &o);
            self.order.remove(&(o.replaced_version, path.to_string()));
            self.touched.insert((path.to_string(), o.version));
        }
        if q.is_empty() {
            self.files.remove(path);
        }
    }

    /// The kept versions of `path`, oldest first.
    pub fn versions(&self, path: &str) -> impl DoubleEndedIterator<Item = &OldVersion> {
        self.files.get(path).into_iter().flatten()
    }

    /// The kept version of `path` written at cluster version `version`.
    pub fn get(&self, path: &str, version: u64) -> Option<&OldVersion> {
        self.versions(path).find(|o| o.version == version)
    }

    /// Every file with kept versions.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.files.keys()
    }

    /// Every kept version with its path.
    pub fn records(&self) -> impl Iterator<Item = HistoryRecord> + '_ {
        self.files.iter().flat_map(|(path, q)| {
            q.iter().map(move |old| HistoryRecord {
                path: path.clone(),
                old: old.clone(),
            })
        })
    }

    /// Bytes the kept versions count against [`HISTORY_MAX_BYTES`].
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of kept versions.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Versions added or dropped since the last call (for persisting): (path, version).
    pub fn take_touched(&mut self) -> BTreeSet<(String, u64)> {
        std::mem::take(&mut self.touched)
    }
}
