//! The Raft log's one ordered writer thread: each batch of queued operations is one
//! redb transaction (one fsync, one-phase), and openraft learns through `LogFlushed` when its
//! entries are durable.

use std::sync::mpsc;
use std::sync::Arc;

use redb::Durability;

use super::{Shared, WriteOp, WriteResult, CACHE_KEEP_ENTRIES, KEY_PURGED, LOGS, META};
use crate::early_ack::Durable;

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
        let started = std::time::Instant::now();
        let result: WriteResult = (|| -> Result<(), redb::Error> {
            let mut txn = shared.db.begin_write()?;
            txn.set_durability(if durable {
                Durability::Immediate
            } else {
                Durability::None
            });
            // One-phase (redb's default): one fsync per batch, the floor of a write.
            // Every page carries a checksum; after a crash redb uses the newest commit
            // whose checksums hold, so a commit torn by the crash (its fsync never
            // returned, so nothing in it was acknowledged) is dropped, as etcd's WAL
            // drops a torn last record. Two-phase commit would cost a second fsync on
            // every write for protection against damage only inside the newest commit.
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
        tracing::debug!(
            micros = started.elapsed().as_micros() as u64,
            ops = batch.len(),
            durable,
            "raft log batch written"
        );
        let mut durable_upto = None;
        for op in batch {
            match op {
                WriteOp::Append {
                    callback,
                    last_log_id,
                    epoch,
                    ..
                } => {
                    durable_upto = Some((last_log_id.index, Some(last_log_id), epoch));
                    if let Some(callback) = callback {
                        callback.log_io_completed(result.clone().map_err(std::io::Error::other));
                    }
                }
                WriteOp::Meta {
                    done: Some(done), ..
                }
                | WriteOp::Purge { done, .. } => {
                    let _ = done.send(result.clone());
                }
                WriteOp::Truncate { from, done } => {
                    // Appends of this batch at or past the cut are gone again.
                    durable_upto = durable_upto.map(|(upto, id, epoch)| {
                        if upto >= from {
                            (from.saturating_sub(1), None, epoch)
                        } else {
                            (upto, id, epoch)
                        }
                    });
                    let _ = done.send(result.clone());
                }
                WriteOp::Meta { done: None, .. } => {}
            }
        }
        if let (Ok(()), Some((upto, id, epoch))) = (&result, durable_upto) {
            let mut c = shared.cache();
            // Appends queued before a truncation that followed them may be gone again.
            let (upto, id) = if epoch == c.truncations {
                (upto, id)
            } else {
                (0, None)
            };
            c.durable_upto = c.durable_upto.max(upto);
            let keep_from = c.durable_upto.saturating_sub(CACHE_KEEP_ENTRIES);
            c.entries = c.entries.split_off(&keep_from);
            // Published under the cache lock: a truncation (which lowers it) is ordered.
            shared.durable.send_modify(|d| {
                if upto > d.upto {
                    *d = Durable {
                        upto,
                        log_id: id,
                        failed: d.failed,
                    };
                } else if upto == d.upto && id.is_some() {
                    d.log_id = id;
                }
            });
        }
        if let Err(e) = result {
            shared.durable.send_modify(|d| d.failed = true);
            tracing::error!("raft log write failed: {e}");
            shared.fault.report(format!("raft log write failed: {e}"));
        }
    }
}
