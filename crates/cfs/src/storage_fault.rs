//! A failed disk write of this node's stores (a full disk, an I/O error):
//! recorded once, reported in status and errors, cleared when the stores are
//! reopened and Raft runs again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first storage failure since the stores were last (re)opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What failed, with the operating system's reason ("raft log write failed: No space left on device").
    pub message: String,
    /// When it was first seen (monotonic).
    pub since: Instant,
}

/// Shared by the log store, the state machine and the cfs handle of one node.
#[derive(Debug, Default)]
pub struct StorageFault {
    current: Mutex<Option<Fault>>,
}

impl StorageFault {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Fault>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a failure; the first one is kept (later ones are its consequences).
    /// Returns whether this was the first.
    pub fn report(&self, message: impl Into<String>) -> bool {
        let mut slot = self.slot();
        if slot.is_some() {
            return false;
        }
        *slot = Some(Fault {
            message: message.into(),
            since: Instant::now(),
        });
        true
    }

    /// The failure in force, if any.
    pub fn current(&self) -> Option<Fault> {
        self.slot().clone()
    }

    /// Clears the failure (the stores were reopened); returns it with how long it lasted.
    pub fn clear(&self) -> Option<(Fault, Duration)> {
        self.slot().take().map(|f| {
            let lasted = f.since.elapsed();
            (f, lasted)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_kept_until_cleared() {
        let f = StorageFault::default();
        assert!(f.current().is_none());
        assert!(f.report("raft log write failed: No space left on device"));
        assert!(!f.report("Previous I/O error occurred"));
        assert_eq!(
            f.current().map(|c| c.message),
            Some("raft log write failed: No space left on device".to_string())
        );
        assert!(f.clear().is_some());
        assert!(f.current().is_none());
        assert!(f.report("state write failed"));
    }
}
