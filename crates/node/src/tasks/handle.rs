//! A running task as its work sees it: log lines, migration progress and results, the
//! stop request, and the end with its status.

use std::sync::Arc;
use std::time::Instant;

use brigade_api::tasks::{MigrationProgress, MigrationResult};

use super::record::{self, TaskExit};
use super::{lock, Inner, Upid, PROGRESS_LOG_INTERVAL, RESULTS_KEPT, STOPPED_MESSAGE};
use crate::error::NodeError;

/// A running task, to log to and end.
#[derive(Clone)]
pub struct TaskHandle {
    pub(super) inner: Arc<Inner>,
    pub(super) upid: Upid,
    pub(super) text: String,
    pub(super) stop: Arc<tokio::sync::Notify>,
}

impl TaskHandle {
    /// The task's UPID.
    pub fn upid(&self) -> &str {
        &self.text
    }

    /// Appends a line to the task's log.
    pub fn log(&self, text: impl AsRef<str>) {
        let text = text.as_ref();
        let mut running = lock(&self.inner.running);
        let Some(r) = running.get_mut(&self.text) else {
            return;
        };
        match lock(&self.inner.store).log(&self.upid, r.log_bytes, text) {
            Ok(n) => r.log_bytes += n,
            Err(e) => tracing::warn!(upid = %self.text, "cannot write the task log: {e}"),
        }
    }

    /// Records a migration's progress; a line in the log when QEMU's status changed or
    /// [`PROGRESS_LOG_INTERVAL`] passed.
    pub fn progress(&self, p: MigrationProgress) {
        let line = format!(
            "migration {}: transferred {} of {} bytes, remaining {} bytes, {:.1} Mbit/s{}",
            p.status,
            p.transferred_bytes,
            p.total_bytes,
            p.remaining_bytes,
            p.mbps,
            p.expected_downtime_ms
                .map(|d| format!(", expected downtime {d} ms"))
                .unwrap_or_default()
        );
        let due = {
            let mut running = lock(&self.inner.running);
            let Some(r) = running.get_mut(&self.text) else {
                return;
            };
            let due = match &r.last_progress_line {
                None => true,
                Some((at, status)) => *status != p.status || at.elapsed() >= PROGRESS_LOG_INTERVAL,
            };
            if due {
                r.last_progress_line = Some((Instant::now(), p.status.clone()));
            }
            r.progress = Some(p);
            due
        };
        if due {
            self.log(line);
        }
    }

    /// Keeps what a migration measured with the task.
    pub fn set_result(&self, r: MigrationResult) {
        let mut results = lock(&self.inner.results);
        results.push_back((self.text.clone(), r));
        while results.len() > RESULTS_KEPT {
            results.pop_front();
        }
    }

    /// Waits until someone asks the task to stop.
    pub async fn stopped(&self) {
        self.stop.notified().await;
    }

    /// Whether someone asked the task to stop (for work that stops only where it safely can).
    pub fn stop_requested(&self) -> bool {
        lock(&self.inner.running)
            .get(&self.text)
            .is_some_and(|r| r.stopping)
    }

    /// A point where the work may stop: an error once a stop was asked for.
    pub fn stop_point(&self) -> Result<(), NodeError> {
        if self.stop_requested() {
            return Err(NodeError::Conflict(STOPPED_MESSAGE.into()));
        }
        Ok(())
    }

    /// Ends the task: OK, or the error with its causes.
    pub fn finish(&self, outcome: Result<(), &NodeError>) {
        let exit = match outcome {
            Ok(()) => TaskExit::Ok,
            Err(e) => TaskExit::Error(record::one_line(&brigade_core::error::message_with_causes(
                e,
            ))),
        };
        let Some(_) = lock(&self.inner.running).remove(&self.text) else {
            return;
        };
        tracing::info!(upid = %self.text, "task ended: {}", exit.text());
        if let Err(e) = lock(&self.inner.store).finish(&self.upid, exit) {
            tracing::warn!(upid = %self.text, "cannot record the end of the task: {e}");
        }
    }
}
