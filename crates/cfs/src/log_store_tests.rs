//! Tests of the log store across a restart: what it reads back from redb alone.

use super::*;
use std::time::Duration;

/// A generous bound: the store answers in milliseconds; only a hang takes longer.
const STORE_CALL_BOUND: Duration = Duration::from_secs(10);

fn log_id(term: u64, index: u64) -> LogId {
    openraft::testing::log_id(term, 1, index)
}

/// Writes blank entries `1..=upto` of `term` straight into a fresh log file, as a
/// previous run would have left them: nothing of them is in a new store's memory.
fn previous_run_log(path: &Path, term: u64, upto: u64) {
    let db = Database::create(path).expect("create the log file");
    let txn = db.begin_write().expect("begin");
    {
        let mut logs = txn.open_table(LOGS).expect("logs table");
        for index in 1..=upto {
            let entry: Entry = openraft::testing::blank_ent::<TypeConfig>(term, 1, index);
            let bytes = serde_json::to_vec(&entry).expect("encode");
            logs.insert(index, bytes.as_slice()).expect("insert");
        }
    }
    txn.commit().expect("commit");
}

/// Runs `call` on the store on its own thread; `None` if it did not return in time
/// (a hung thread is left behind: the test fails either way).
fn within_bound<T: Send + 'static>(
    store: LogStore,
    call: impl FnOnce(LogStore) -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call(store));
    });
    rx.recv_timeout(STORE_CALL_BOUND).ok()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A restarted node whose tail conflicts with the new leader's log truncates
/// entries that are only on disk: this used to deadlock on the cache's own lock
/// (issue 22: a power-cut former leader never answered AppendEntries again).
#[test]
fn truncating_entries_only_on_disk_after_a_restart_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.redb");
    previous_run_log(&path, 14, 5);
    let store = LogStore::open(&path).expect("open");

    let state = within_bound(store, |mut s| {
        block_on(async {
            s.truncate(log_id(14, 3)).await.expect("truncate");
            let state = s.get_log_state().await.expect("log state");
            let left = s.try_get_log_entries(0..10).await.expect("read");
            (
                state.last_log_id,
                left.iter().map(|e| e.log_id).collect::<Vec<_>>(),
            )
        })
    })
    .expect("truncate returned within the bound (it hung on the cache lock)");

    assert_eq!(
        state.0,
        Some(log_id(14, 2)),
        "the last entry is the one before the cut"
    );
    assert_eq!(state.1, vec![log_id(14, 1), log_id(14, 2)]);
}
