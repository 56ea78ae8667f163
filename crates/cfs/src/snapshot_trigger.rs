//! Snapshots by bytes as well as by count: openraft snapshots after a number of
//! entries, but a stream of large entries (whole files rewritten) can fill a small
//! state disk long before that number; so a snapshot is also asked for once the
//! entries since the last one pass [`crate::RaftSettings::snapshot_log_bytes`],
//! and the entries kept behind a snapshot are purged down to a quarter of that bound
//! (openraft keeps a count of them, however large they are).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::service::Cfs;

/// How often the log's size is looked at (also at once when an append passes the bound).
pub const SNAPSHOT_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// How long a snapshot asked for may take before it is asked for again.
pub const SNAPSHOT_ASK_AGAIN_AFTER: Duration = Duration::from_secs(10);

/// A snapshot asked for: when, and the last snapshot's index then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    pub at: Instant,
    pub snapshot: Option<u64>,
}

/// The entries kept behind the last snapshot hold at most the bound divided by this.
pub const KEEP_FRACTION: u64 = 4;

/// Whether a snapshot should be asked for: `bytes` since the last one (at index
/// `snapshot`), the bound, and the request before, which must have been answered
/// (a newer snapshot exists) or be overdue.
pub fn due(
    bytes: u64,
    bound: u64,
    snapshot: Option<u64>,
    asked: Option<Asked>,
    now: Instant,
) -> bool {
    bound > 0
        && bytes > bound
        && asked.is_none_or(|a| {
            a.snapshot != snapshot
                || now.saturating_duration_since(a.at) >= SNAPSHOT_ASK_AGAIN_AFTER
        })
}

impl Cfs {
    /// Watches the log's size and asks for a snapshot when it passes the bound.
    pub(crate) fn spawn_snapshot_trigger(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SNAPSHOT_CHECK_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut asked = None;
            loop {
                let Some(wake) = weak.upgrade().map(|c| c.log_bound_passed.clone()) else {
                    return;
                };
                tokio::select! {
                    _ = tick.tick() => {}
                    () = wake.notified() => {}
                }
                let Some(cfs) = weak.upgrade() else { return };
                if cfs.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let raft = cfs.raft();
                let snapshot = raft.metrics().borrow().snapshot.map(|l| l.index);
                let log = cfs.log.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let Some(log) = log else { continue };
                let bytes = log.bytes_after(snapshot);
                let now = Instant::now();
                if due(bytes, cfs.settings.snapshot_log_bytes, snapshot, asked, now) {
                    asked = Some(Asked { at: now, snapshot });
                    tracing::info!(
                        "the log holds {} KiB since the last snapshot: taking one",
                        bytes / 1024
                    );
                    if let Err(e) = raft.trigger().snapshot().await {
                        tracing::warn!("cannot ask for a snapshot: {e}");
                    }
                }
                let keep = cfs.settings.snapshot_log_bytes / KEEP_FRACTION;
                let purge = snapshot.and_then(|s| log.purge_point(s, keep));
                if let (true, Some(upto)) = (keep > 0, purge) {
                    if let Err(e) = raft.trigger().purge_log(upto).await {
                        tracing::warn!("cannot purge the log: {e}");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_due_past_the_bound_once_the_one_before_is_taken() {
        let now = Instant::now();
        let asked = Some(Asked {
            at: now,
            snapshot: Some(5),
        });
        let soon = now + Duration::from_secs(1);
        assert!(!due(10, 100, Some(5), None, now));
        assert!(due(101, 100, Some(5), None, now));
        assert!(!due(101, 100, Some(5), asked, soon), "still being taken");
        assert!(due(101, 100, Some(9), asked, soon), "taken: the next one");
        assert!(due(
            101,
            100,
            Some(5),
            asked,
            now + SNAPSHOT_ASK_AGAIN_AFTER
        ));
        assert!(!due(u64::MAX, 0, None, None, now), "0 turns it off");
    }
}
