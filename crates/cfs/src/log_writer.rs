//! The Raft log's one ordered writer thread: each batch of queued operations is one
//! redb transaction (one fsync), and openraft learns through `LogFlushed` when its
//! entries are durable.

use std::sync::mpsc;
use std::sync::Arc;

use redb::Durability;

use super::{Shared, WriteOp, WriteResult, CACHE_KEEP_ENTRIES, KEY_PURGED, LOGS, META};

/// Applies queued operations in order, one redb transaction (one fsync) per batch.
pub(super) fn writer_loop(shared: Arc<Shared>, rx: mpsc::Receiver<WriteOp>) {
    // Non-durable metadata (the commit-index hint) waits for the next durable batch.
    let mut deferred: Vec<WriteOp> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut batch = std::mem::take(&mut deferred);
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let only_hints = batch.iter().all(|op| {
            matches!(
                op,
                WriteOp::Meta {
                    durable: false,
                    done: None,
                    ..
                }
            )
        });
        if only_hints {
            // Keep only the newest value per key.
            let mut seen = std::collections::HashSet::new();
            batch.reverse();
            batch.retain(|op| match op {
                WriteOp::Meta { key, .. } => seen.insert(*key),
                _ => true,
            });
            batch.reverse();
            deferred = batch;
            continue;
        }
        let durable = batch.iter().any(|op| match op {
            WriteOp::Meta { durable, .. } => *durable,
            _ => true,
        });
        let result: WriteResult = (|| -> Result<(), redb::Error> {
            let mut txn = shared.db.begin_write()?;
            txn.set_durability(if durable {
                Durability::Immediate
            } else {
                Durability::None
            });
            // Two-phase: a damaged newest commit is then an error when the file is
            // opened, never a silent roll back to the one before (which could forget a
            // vote or entries this node acknowledged). It costs one more fsync.
            txn.set_two_phase_commit(durable);
            {
                let mut logs = txn.open_table(LOGS)?;
                let mut meta = txn.open_table(META)?;
                for op in &batch {
                    match op {
                        WriteOp::Append { entries, .. } => {
                            for (index, bytes) in entries {
                                logs.insert(*index, bytes.as_slice())?;
                            }
                        }
                        WriteOp::Truncate { from, .. } => {
                            logs.retain_in(*from.., |_, _| false)?;
                        }
                        WriteOp::Purge { upto, record, .. } => {
                            meta.insert(KEY_PURGED, record.as_slice())?;
                            logs.retain_in(..=*upto, |_, _| false)?;
                        }
                        WriteOp::Meta { key, value, .. } => {
                            meta.insert(*key, value.as_slice())?;
                        }
                    }
                }
            }
            txn.commit()?;
            Ok(())
        })()
        .map_err(Arc::new);
        let mut durable_upto = None;
        for op in batch {
            match op {
                WriteOp::Append {
                    callback,
                    last_index,
                    ..
                } => {
                    durable_upto = Some(last_index);
                    callback.log_io_completed(result.clone().map_err(std::io::Error::other));
                }
                WriteOp::Meta {
                    done: Some(done), ..
                }
                | WriteOp::Truncate { done, .. }
                | WriteOp::Purge { done, .. } => {
                    let _ = done.send(result.clone());
                }
                WriteOp::Meta { done: None, .. } => {}
            }
        }
        if let (Ok(()), Some(upto)) = (&result, durable_upto) {
            let mut c = shared.cache();
            c.durable_upto = c.durable_upto.max(upto);
            let keep_from = c.durable_upto.saturating_sub(CACHE_KEEP_ENTRIES);
            c.entries = c.entries.split_off(&keep_from);
        }
        if let Err(e) = result {
            tracing::error!("raft log write failed: {e}");
            shared.fault.report(format!("raft log write failed: {e}"));
        }
    }
}
