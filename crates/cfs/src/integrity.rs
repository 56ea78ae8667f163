//! Store files are opened only when every page checks out: a file changed behind
//! redb's back (a bad disk, a stray write) is refused, never read.
//!
//! redb verifies its page checksums only when it recovers from an unclean shutdown,
//! so a file closed cleanly and damaged afterwards would be read as it is: a flipped
//! byte in a record becomes wrong data served to clients, and a damaged Raft log can
//! make this node forget a vote or entries it acknowledged. So every open runs
//! redb's full check (after its own crash recovery, which only ever drops a commit
//! that was never fsynced). A check that fails, or that had to roll anything back,
//! means the file was damaged: the node refuses to start, and a marker file keeps
//! it refusing (the check's repair is written to the file, so the next check would
//! pass on what may be older data) until the state directory is wiped.

use std::path::{Path, PathBuf};

use redb::Database;

/// The marker a node leaves in its cfs directory once a store failed its check.
pub const CORRUPTED_MARKER: &str = "CORRUPTED";

/// Memory each store file may use to cache its pages. redb's default, 1 GiB, is
/// never reached but keeps every page an idle node ever read or wrote (its whole log
/// and state) in memory; recent log entries and the pages a commit touches fit here.
pub const STORE_CACHE_BYTES: usize = 1024 * 1024;

/// Opens (or creates) a store file with its cache bounded to [`STORE_CACHE_BYTES`].
pub fn create_db(path: &Path) -> Result<Database, redb::DatabaseError> {
    Database::builder()
        .set_cache_size(STORE_CACHE_BYTES)
        .create(path)
}

/// Opens (or creates) `path`, then verifies every page of it.
pub fn open_verified(path: &Path) -> Result<Database, redb::Error> {
    // redb asserts, rather than reports, that the file is as long as its header says:
    // a truncated store would panic the node instead of being refused.
    let opened = std::panic::catch_unwind(|| create_db(path)).map_err(|_| {
        redb::Error::Corrupted(format!(
            "{}: the file is shorter than its header says (truncated)",
            path.display()
        ))
    })?;
    let mut db = opened.map_err(|e| corrupted_or(path, e.into()))?;
    match db.check_integrity() {
        Ok(true) => Ok(db),
        Ok(false) => Err(redb::Error::Corrupted(format!(
            "{}: its checksums did not match (redb had to roll the file back to make it readable)",
            path.display()
        ))),
        Err(e) => Err(corrupted_or(path, e.into())),
    }
}

/// Names the file in a corruption error; other errors stay as they are. A header
/// redb cannot read comes back as invalid data or as a format to upgrade: damage too.
fn corrupted_or(path: &Path, e: redb::Error) -> redb::Error {
    let name = path.display();
    match e {
        redb::Error::Corrupted(m) => redb::Error::Corrupted(format!("{name}: {m}")),
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            redb::Error::Corrupted(format!("{name}: its header is not a redb header ({io})"))
        }
        redb::Error::UpgradeRequired(v) => redb::Error::Corrupted(format!(
            "{name}: its header names file format {v}, which this brigade never wrote"
        )),
        other => other,
    }
}

/// Whether opening a store failed because its file is damaged.
pub fn is_corruption(e: &redb::Error) -> bool {
    matches!(e, redb::Error::Corrupted(_))
}

/// The marker's path in the cfs directory `data_dir`.
pub fn marker_path(data_dir: &Path) -> PathBuf {
    data_dir.join(CORRUPTED_MARKER)
}

/// Why the stores in `data_dir` were found corrupted earlier, if they were.
pub fn earlier_corruption(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(marker_path(data_dir))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Records that the stores in `data_dir` are corrupted (best effort: on a full disk
/// the marker may be missing, and the next start checks the files again).
pub fn mark_corrupted(data_dir: &Path, why: &str) {
    if let Err(e) = std::fs::write(marker_path(data_dir), format!("{why}\n")) {
        tracing::error!("cannot write {}: {e}", marker_path(data_dir).display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::TableDefinition;

    const T: TableDefinition<u64, &[u8]> = TableDefinition::new("t");

    fn value(i: u64) -> String {
        format!("record-{i:06}-with-some-padding")
    }

    fn write_records(path: &Path) {
        let db = Database::create(path).expect("create");
        for batch in 0..10u64 {
            let w = db.begin_write().expect("write");
            {
                let mut t = w.open_table(T).expect("table");
                for i in batch * 50..(batch + 1) * 50 {
                    t.insert(i, value(i).as_bytes()).expect("insert");
                }
            }
            w.commit().expect("commit");
        }
    }

    /// Changes one character inside record `i`'s value, wherever it is in the file.
    fn damage_record(path: &Path, i: u64) {
        let mut bytes = std::fs::read(path).expect("read");
        let needle = value(i);
        let at: Vec<usize> = bytes
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle.as_bytes())
            .map(|(k, _)| k)
            .collect();
        assert!(!at.is_empty(), "record {i} not found in the file");
        for k in at {
            bytes[k + 7] = b'X';
        }
        std::fs::write(path, bytes).expect("write");
    }

    #[test]
    fn a_sound_file_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.redb");
        write_records(&path);
        let db = open_verified(&path).expect("a sound file opens");
        let r = db.begin_read().expect("read");
        let t = r.open_table(T).expect("table");
        assert_eq!(
            t.get(7).expect("get").map(|v| v.value().to_vec()),
            Some(value(7).into_bytes())
        );
    }

    #[test]
    fn a_damaged_record_is_refused_where_a_plain_open_reads_it_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.redb");
        write_records(&path);
        damage_record(&path, 123);
        let saved = std::fs::read(&path).expect("read");
        {
            // What the stores did before: redb reads the damaged value as it is.
            let db = Database::create(&path).expect("a plain open succeeds");
            let r = db.begin_read().expect("read");
            let t = r.open_table(T).expect("table");
            let got = t.get(123).expect("get").map(|v| v.value().to_vec());
            assert_ne!(got, Some(value(123).into_bytes()), "the damage is visible");
        }
        std::fs::write(&path, saved).expect("restore the damaged copy");
        let e = open_verified(&path).expect_err("refused");
        assert!(is_corruption(&e), "{e}");
        assert!(e.to_string().contains("d.redb"), "{e}");
    }

    #[test]
    fn a_damaged_header_is_called_corruption() {
        // Found by `brigade chaos run --nodes 3 --seed 1`: the node refused with
        // "storage error: I/O error: invalid data", not saying its store was damaged.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.redb");
        write_records(&path);
        let mut bytes = std::fs::read(&path).expect("read");
        for (i, b) in bytes.iter_mut().take(512).enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        std::fs::write(&path, bytes).expect("write");
        let e = open_verified(&path).expect_err("refused");
        assert!(is_corruption(&e), "{e:?}");
        assert!(e.to_string().contains("h.redb"), "{e}");
    }

    #[test]
    fn a_truncated_file_is_called_corruption() {
        // Found by `brigade chaos run --nodes 5 --duration 30m --seed 1800`: a log.redb
        // cut short made redb's open panic (assertion `raw_file_len() >=
        // header.layout().len()`), so the node died with a panic instead of refusing.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.redb");
        write_records(&path);
        let len = std::fs::metadata(&path).expect("metadata").len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        f.set_len(len / 3).expect("truncate");
        drop(f);
        let e = open_verified(&path).expect_err("refused");
        assert!(is_corruption(&e), "{e:?}");
        assert!(e.to_string().contains("t.redb"), "{e}");
    }

    #[test]
    fn the_marker_remembers_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(earlier_corruption(dir.path()), None);
        mark_corrupted(dir.path(), "log.redb: checksum mismatch");
        assert_eq!(
            earlier_corruption(dir.path()).as_deref(),
            Some("log.redb: checksum mismatch")
        );
    }
}
