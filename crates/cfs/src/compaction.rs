//! Shrinks a store file when it is opened: redb grows a file (doubling while it is
//! small) and never gives the space back, so a node that once held a long log or
//! rewrote its whole state after a full disk would keep the high-water mark forever.

use std::path::Path;

use redb::Database;

/// Files smaller than this are left alone: compacting them gains nothing worth a rewrite.
pub const COMPACT_ABOVE_BYTES: u64 = 4 * 1024 * 1024;

/// Opens `path` verified ([`crate::integrity::open_verified`]), then compacts it.
pub fn open_compacted(path: &Path) -> Result<Database, redb::Error> {
    let mut db = crate::integrity::open_verified(path)?;
    compact(path, &mut db);
    Ok(db)
}

/// Compacts `db` (the file at `path`) when it is large; returns the file's new length.
///
/// A failed compaction (a full disk) is logged and leaves a usable file: redb commits
/// each step, so what was moved is moved, and the next open tries again.
pub fn compact(path: &Path, db: &mut Database) -> Option<u64> {
    let before = file_len(path)?;
    if before < COMPACT_ABOVE_BYTES {
        return Some(before);
    }
    match db.compact() {
        Ok(_) => {
            let after = file_len(path)?;
            if after < before {
                tracing::info!(
                    "compacted {}: {} KiB -> {} KiB",
                    path.display(),
                    before / 1024,
                    after / 1024
                );
            }
            Some(after)
        }
        Err(e) => {
            tracing::warn!("cannot compact {} yet: {e}", path.display());
            Some(before)
        }
    }
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableTableMetadata, TableDefinition};

    const T: TableDefinition<u64, &[u8]> = TableDefinition::new("t");

    fn fill(db: &Database, from: u64, n: u64) {
        let txn = db.begin_write().expect("txn");
        {
            let mut t = txn.open_table(T).expect("table");
            let value = vec![7u8; 64 * 1024];
            for i in from..from + n {
                t.insert(i, value.as_slice()).expect("insert");
            }
        }
        txn.commit().expect("commit");
    }

    /// A file that once held 32 MiB and now holds 1 MiB shrinks when reopened.
    #[test]
    fn a_file_emptied_since_it_grew_shrinks_when_opened() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("log.redb");
        {
            let db = Database::create(&path).expect("create");
            fill(&db, 0, 512);
            let txn = db.begin_write().expect("txn");
            {
                let mut t = txn.open_table(T).expect("table");
                t.retain_in(16.., |_, _| false).expect("delete");
            }
            txn.commit().expect("commit");
        }
        let grown = file_len(&path).expect("len");
        assert!(grown > 32 * 1024 * 1024, "the file grew to {grown}");
        let db = open_compacted(&path).expect("open");
        let shrunk = file_len(&path).expect("len");
        assert!(
            shrunk < grown / 4,
            "the file stayed at {shrunk} bytes (was {grown})"
        );
        let r = db.begin_read().expect("read");
        let t = r.open_table(T).expect("table");
        assert_eq!(t.len().expect("len"), 16, "the data is all there");
    }

    #[test]
    fn a_small_file_is_left_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("state.redb");
        let mut db = Database::create(&path).expect("create");
        fill(&db, 0, 4);
        let before = file_len(&path).expect("len");
        assert_eq!(compact(&path, &mut db), Some(before));
    }
}
