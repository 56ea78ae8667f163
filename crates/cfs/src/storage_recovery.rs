//! Recovery from a failed write of this node's stores (a full disk). openraft
//! stops its core at the first failed log write, and a redb file refuses every
//! write after a failed one until it is reopened; so the supervisor stops what
//! is left of the Raft instance, reopens both files once they can be written
//! again (the state machine's in-memory tree, never behind its file, is
//! written whole) and starts a new Raft instance in this process. Meanwhile
//! the failure is reported in status and every write is refused with it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::error::CfsError;
use crate::log_store::LogStore;
use crate::service::{Cfs, LOG_FILE, STATE_FILE};
use crate::state_machine::StateMachine;
use crate::types::Raft;

/// How often a failed node checks for a fault and tries to reopen its stores.
pub const STORAGE_RETRY_INTERVAL: Duration = Duration::from_secs(1);

impl Cfs {
    /// Watches for storage failures and recovers from them.
    pub(crate) fn spawn_storage_supervisor(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(STORAGE_RETRY_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_attempt_error = String::new();
            loop {
                tick.tick().await;
                let Some(cfs) = weak.upgrade() else { return };
                if cfs.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let running = cfs.raft().metrics().borrow().running_state.clone();
                if let Err(fatal) = running {
                    // The core stopped without a store reporting why (e.g. a failed read).
                    if cfs.fault.report(format!("raft stopped: {fatal}")) {
                        tracing::error!("raft stopped: {fatal}");
                    }
                }
                let Some(fault) = cfs.fault.current() else {
                    continue;
                };
                match cfs.restart_raft().await {
                    Ok(()) => {
                        last_attempt_error.clear();
                        tracing::warn!(
                            "storage recovered after {} s: the stores were reopened and Raft restarted (failure was: {})",
                            fault.since.elapsed().as_secs(),
                            fault.message
                        );
                    }
                    Err(e) => {
                        let e = e.to_string();
                        if e != last_attempt_error {
                            tracing::warn!("cannot reopen the stores yet: {e}");
                            last_attempt_error = e;
                        }
                    }
                }
            }
        });
    }

    /// Stops the Raft instance, reopens the stores and starts a new instance.
    async fn restart_raft(self: &Arc<Self>) -> Result<(), CfsError> {
        let old = self.raft();
        // Stops the core if it still runs (a state-file failure leaves it running).
        let _ = old.shutdown().await;
        // Every handle on the old files must be gone before they can be reopened.
        drop(self.sm.lock().unwrap_or_else(|p| p.into_inner()).take());
        drop(self.log.lock().unwrap_or_else(|p| p.into_inner()).take());
        let dir = self.data_dir.clone();
        let fault = self.fault.clone();
        let shared = self.shared.clone();
        let (log, sm) = tokio::task::spawn_blocking(move || {
            let log = LogStore::open_reporting(&dir.join(LOG_FILE), fault)?;
            let sm = StateMachine::reopen(&dir.join(STATE_FILE), shared)?;
            Ok::<_, redb::Error>((log, sm))
        })
        .await
        .map_err(CfsError::storage)?
        .map_err(CfsError::storage)?;
        if self.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        // The new instance starts clean; a failure reported by the old one's leftovers is void.
        self.fault.clear();
        log.enable_early_ack(self.id);
        let sm = sm.gated_on(log.durable());
        self.transport.follow_durable(log.durable());
        sm.spawn_flusher();
        let log_handle = log.clone();
        log.notify_past(
            self.settings.snapshot_log_bytes,
            self.log_bound_passed.clone(),
        );
        let raft = match Raft::new(
            self.id,
            self.config.clone(),
            self.transport.clone(),
            log,
            sm.clone(),
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                self.fault.report(format!("raft restart failed: {e}"));
                return Err(CfsError::storage(e));
            }
        };
        *self.sm.lock().unwrap_or_else(|p| p.into_inner()) = Some(sm);
        *self.log.lock().unwrap_or_else(|p| p.into_inner()) = Some(log_handle);
        *self.raft.write().unwrap_or_else(|p| p.into_inner()) = raft.clone();
        self.spawn_metrics_watcher(&raft);
        Ok(())
    }
}
