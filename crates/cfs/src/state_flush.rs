//! Writing what the state machine changed in memory to its redb file: the touched
//! files, locks and previous versions with the metadata, durable one flush in ten.

use std::collections::BTreeSet;

use redb::Durability;

use crate::state_machine::{StateMachine, STATE_DURABLE_EVERY, STATE_GARBAGE_MIN_BYTES};
use crate::state_store::{self, history_key};
use crate::types::LogId;

/// What changed in memory since the last flush: file paths, lock paths, and
/// previous versions as (path, version).
pub type Dirty = (BTreeSet<String>, BTreeSet<String>, BTreeSet<(String, u64)>);

/// What the flusher remembers between flushes.
#[derive(Debug, Default)]
pub struct FlushState {
    /// Non-durable commits since the last durable one.
    pub(crate) since_durable: u32,
    /// Bytes of records those commits wrote.
    pub(crate) bytes_since_durable: u64,
    /// The applied log id the last commit recorded (nothing new: no commit).
    pub(crate) persisted_applied: Option<LogId>,
}

impl StateMachine {
    /// The background flusher's durability for a commit of `bytes` of records.
    fn tick_durability(fs: &FlushState, bytes: u64, tree_bytes: u64) -> Durability {
        let garbage_bound = tree_bytes.max(STATE_GARBAGE_MIN_BYTES);
        if fs.since_durable + 1 >= STATE_DURABLE_EVERY
            || fs.bytes_since_durable + bytes > garbage_bound
        {
            Durability::Immediate
        } else {
            Durability::None
        }
    }

    /// `durability` None: the flusher's policy, and nothing when nothing changed.
    pub(crate) fn flush_locked(
        &self,
        fs: &mut FlushState,
        durability: Option<Durability>,
    ) -> Result<bool, redb::Error> {
        let encode = |e: serde_json::Error| redb::Error::Corrupted(e.to_string());
        let shared = self.shared_ref();
        let (touched, files, locks, history, meta, applied, bytes, durability) = {
            let st = shared.read();
            let touched: Dirty = std::mem::take(&mut *shared.dirty());
            let (touched_files, touched_locks, touched_history) = &touched;
            if durability.is_none()
                && touched_files.is_empty()
                && touched_locks.is_empty()
                && touched_history.is_empty()
                && st.last_applied == fs.persisted_applied
            {
                return Ok(false);
            }
            let mut files = Vec::with_capacity(touched_files.len());
            for k in touched_files {
                let v = match k.parse().ok().and_then(|p| st.tree.get(&p)) {
                    Some(e) => Some(serde_json::to_vec(e).map_err(encode)?),
                    None => None,
                };
                files.push((k.clone(), v));
            }
            let mut locks = Vec::with_capacity(touched_locks.len());
            for k in touched_locks {
                let v = match k.parse().ok().and_then(|p| st.tree.lock(&p)) {
                    Some(l) => Some(serde_json::to_vec(l).map_err(encode)?),
                    None => None,
                };
                locks.push((k.clone(), v));
            }
            let mut history = Vec::with_capacity(touched_history.len());
            for (path, version) in touched_history {
                let v = match st.tree.history().get(path, *version) {
                    Some(old) => Some(
                        serde_json::to_vec(&crate::tree::history::HistoryRecord {
                            path: path.clone(),
                            old: old.clone(),
                        })
                        .map_err(encode)?,
                    ),
                    None => None,
                };
                history.push((history_key(path, *version), v));
            }
            let meta = state_store::meta_records(&st)?;
            let applied = st.last_applied;
            let bytes: u64 = files
                .iter()
                .chain(&locks)
                .chain(&history)
                .map(|(k, v)| (k.len() + v.as_ref().map_or(0, Vec::len)) as u64)
                .sum();
            let durability =
                durability.unwrap_or_else(|| Self::tick_durability(fs, bytes, st.tree.bytes()));
            (
                touched, files, locks, history, meta, applied, bytes, durability,
            )
        };
        match state_store::persist(self.db_ref(), &files, &locks, &history, &meta, durability) {
            Ok(()) => {
                fs.persisted_applied = applied;
                if let Durability::None = durability {
                    fs.since_durable += 1;
                    fs.bytes_since_durable += bytes;
                } else {
                    fs.since_durable = 0;
                    fs.bytes_since_durable = 0;
                }
                Ok(true)
            }
            Err(e) => {
                // Not written: those are still to be persisted by a later flush.
                let mut dirty = shared.dirty();
                dirty.0.extend(touched.0);
                dirty.1.extend(touched.1);
                dirty.2.extend(touched.2);
                Err(e)
            }
        }
    }
}
