//! Unlocking a guest whose migration failed: the guest stayed on the source, so its
//! `migrate` lock must go, or the target keeps its paused copy for a move that can no
//! longer happen. A source cut off from the leader cannot write yet; it retries until
//! the cluster takes the write, the lock is gone, the config left this node, or anyone
//! else wrote it (a later migration's lock is never cleared: each attempt compares and
//! swaps on the version the first fresh read found).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brigade_core::poll_until;
use brigade_guest::GuestLock;

use super::super::common::with_lock;
use super::super::locate::Located;
use super::super::power::lock_in;
use crate::node::Node;

/// How long a failed migration's source keeps trying to clear its lock; after that
/// the clearing at daemon start, or on the leader when this node is dead, is left.
pub const FAILED_MIGRATION_UNLOCK_WINDOW: Duration = Duration::from_secs(600);
/// How often it tries.
const UNLOCK_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// What one attempt found.
enum Attempt {
    /// The config here is unlocked (by this attempt or otherwise) or is not here.
    Done,
    /// The cluster did not take the write yet.
    Retry(String),
}

impl Node {
    /// Tries once now; when that fails, goes on trying in the background. Returns
    /// whether the guest is unlocked already.
    pub(crate) async fn unlock_after_failed_migration(self: &Arc<Self>, l: &Located) -> bool {
        let found = Arc::new(Mutex::new(None));
        match self.try_unlock(l, &found).await {
            Attempt::Done => true,
            Attempt::Retry(why) => {
                tracing::warn!(
                    vmid = l.vmid.get(),
                    "cannot clear the migrate lock yet ({why}); retrying"
                );
                let me = self.clone();
                let l = l.clone();
                tokio::spawn(async move {
                    let deadline = Instant::now() + FAILED_MIGRATION_UNLOCK_WINDOW;
                    let done = poll_until(deadline, UNLOCK_RETRY_INTERVAL, || async {
                        matches!(me.try_unlock(&l, &found).await, Attempt::Done)
                    })
                    .await;
                    if done.is_ok() {
                        tracing::info!(
                            vmid = l.vmid.get(),
                            "cleared the migrate lock of the failed migration"
                        );
                    } else {
                        tracing::error!(
                            vmid = l.vmid.get(),
                            "the migrate lock of the failed migration is still set; it is cleared when this daemon restarts"
                        );
                    }
                });
                false
            }
        }
    }

    /// One attempt on a fresh read: a compare-and-swap on the version the first fresh
    /// read found (`found`); a config written since then is someone else's to unlock.
    async fn try_unlock(&self, l: &Located, found: &Mutex<Option<u64>>) -> Attempt {
        let Ok(rt) = self.require_cluster() else {
            return Attempt::Retry("not in a cluster".into());
        };
        if let Err(e) = rt.cfs.read_index().await {
            return Attempt::Retry(e.to_string());
        }
        let Ok(f) = rt.cfs.read(&l.path) else {
            return Attempt::Done;
        };
        let first = *found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert(f.version);
        if first != f.version {
            return Attempt::Done;
        }
        let text = String::from_utf8_lossy(&f.data);
        if lock_in(&text) != Some(GuestLock::Migrate) {
            return Attempt::Done;
        }
        let Ok(unlocked) = with_lock(&text, None) else {
            return Attempt::Done;
        };
        match self
            .write_guest_config(&l.path, unlocked, Some(f.version))
            .await
        {
            Ok(_) => Attempt::Done,
            Err(e) => Attempt::Retry(e.to_string()),
        }
    }
}
