//! The handover of a migrating guest's config, decided for certain: the move batch
//! either committed (the guest is the target's) or can never commit any more (it stays
//! here). A write of unknown outcome is settled by a compare-and-swap on the version
//! the migration locked: if that commits, the move (which swaps on the same version)
//! cannot; if it fails because the config is gone, the move did commit.

use std::time::Duration;

use brigade_cfs::{CfsError, Op};

use super::super::locate::{self, Located};
use crate::error::NodeError;
use crate::node::Node;

/// How long to wait between attempts to settle a handover of unknown outcome.
pub const HANDOVER_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// Where the one copy of a migrating guest belongs after the handover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// The config is on the target: only the target may run the guest.
    Moved,
    /// The config stayed here and can no longer move: only the source may run it.
    Stayed,
}

/// Whether a failed proposal is known not to have committed (it was refused before
/// being proposed, or applied and rejected).
pub fn definitely_failed(e: &CfsError) -> bool {
    matches!(
        e,
        CfsError::NotQuorate
            | CfsError::VersionMismatch { .. }
            | CfsError::NotFound { .. }
            | CfsError::Exists { .. }
            | CfsError::GuestIdTaken { .. }
            | CfsError::Invalid { .. }
            | CfsError::FileTooLarge { .. }
            | CfsError::TreeFull { .. }
            | CfsError::TooManyEntries { .. }
    )
}

impl Node {
    /// Proposes the move and settles its outcome, however long that takes (the guest
    /// stays paused on both sides meanwhile: safety over availability).
    pub(super) async fn hand_over(
        &self,
        l: &Located,
        locked_version: u64,
        target: &str,
    ) -> Handover {
        let state_dir = self.config.state_dir();
        let moved = match crate::faults::at(&state_dir, "migrate.handover") {
            // The move commits but its answer is lost (a leader stepping down at once).
            Some(crate::faults::Fault::Unknown) => {
                let _ = self.move_config(l, locked_version, target).await;
                Err(NodeError::Cfs(CfsError::Timeout { secs: 0 }))
            }
            // Nothing was proposed, and the proposer cannot tell.
            Some(crate::faults::Fault::Fail) => Err(NodeError::Cfs(CfsError::Timeout { secs: 0 })),
            _ => self.move_config(l, locked_version, target).await,
        };
        match moved {
            Ok(()) => Handover::Moved,
            Err(NodeError::Cfs(e)) if definitely_failed(&e) => {
                self.settled_location(l, target).await
            }
            Err(e) => {
                tracing::warn!(
                    vmid = l.vmid.get(),
                    "handover to {target} of unknown outcome: {e}; settling it"
                );
                self.settle_handover(l, locked_version, target).await
            }
        }
    }

    /// Makes the move impossible, or finds that it happened.
    async fn settle_handover(&self, l: &Located, locked_version: u64, target: &str) -> Handover {
        loop {
            let Ok(rt) = self.require_cluster() else {
                tokio::time::sleep(HANDOVER_RETRY_INTERVAL).await;
                continue;
            };
            let Ok(f) = rt.cfs.read(&l.path) else {
                // Gone from here: find out where it went.
                return self.settled_location(l, target).await;
            };
            let write = rt
                .cfs
                .propose(Op::Write {
                    path: l.path.clone(),
                    data: f.data.clone(),
                    expect_version: Some(locked_version),
                    create_exclusive: false,
                })
                .await;
            match write {
                Ok(_) => return Handover::Stayed,
                Err(e) if definitely_failed(&e) && !matches!(e, CfsError::NotQuorate) => {
                    return self.settled_location(l, target).await
                }
                Err(e) => {
                    tracing::debug!(vmid = l.vmid.get(), "settling the handover: {e}");
                    tokio::time::sleep(HANDOVER_RETRY_INTERVAL).await;
                }
            }
        }
    }

    /// Where the config is on a view that applied every committed entry.
    async fn settled_location(&self, l: &Located, target: &str) -> Handover {
        loop {
            if let Ok(rt) = self.require_cluster() {
                if rt.cfs.read_index().await.is_ok() {
                    let at_target = locate::find(&rt.cfs, l.vmid).is_some_and(|x| x.node == target);
                    return if at_target {
                        Handover::Moved
                    } else {
                        Handover::Stayed
                    };
                }
            }
            tokio::time::sleep(HANDOVER_RETRY_INTERVAL).await;
        }
    }
}
