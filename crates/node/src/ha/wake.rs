//! Waiting for the next HA round: the round's interval, cut short when a file that
//! matters changes (so an LRM acts on a new assignment at once, not a round later).

use std::time::Duration;

use brigade_cfs::Change;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

/// Sleeps `interval`, or less if a change to a path `matters` arrives first.
pub(super) async fn sleep_or_change(
    changes: &mut broadcast::Receiver<Change>,
    interval: Duration,
    matters: impl Fn(&str) -> bool,
) {
    let deadline = Instant::now() + interval;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return,
            r = changes.recv() => match r {
                Ok(c) if matters(c.path.trim_start_matches('/')) => return,
                Ok(_) => {}
                // Changes were missed: one of them may matter.
                Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => {
                    tokio::time::sleep_until(deadline).await;
                    return;
                }
            },
        }
    }
}
