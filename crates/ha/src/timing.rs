//! HA timing, derived from node_timeout: renewal interval, fence timeout, lease.

use serde::{Deserialize, Serialize};

/// How often an LRM renews its lease at most (ms).
pub const RENEW_INTERVAL_MAX_MS: u64 = 1000;
/// The smallest fence timeout accepted (ms).
pub const FENCE_TIMEOUT_MIN_MS: u64 = 1500;
/// The smallest safety margin between self-fencing and recovery (ms).
pub const LEASE_MARGIN_MIN_MS: u64 = 1000;

/// The numbers the CRM and LRMs work with, all in milliseconds of monotonic time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// An LRM renews its lease this often.
    pub renew_ms: u64,
    /// A node without a committed renewal for this long kills its HA guests.
    pub fence_timeout_ms: u64,
    /// The leader recovers a node's guests only this long after its last renewal.
    pub lease_ms: u64,
    /// A node whose renewal is older than this is "lost" (fencing starts).
    pub fresh_ms: u64,
}

impl Timing {
    /// From a fence timeout: renew at a third of it (at most every second), lease = fence
    /// timeout plus a margin of a fifth (at least 1 s) for the kill to complete.
    pub fn from_fence_timeout(fence_timeout_ms: u64) -> Timing {
        let fence = fence_timeout_ms.max(FENCE_TIMEOUT_MIN_MS);
        let renew = (fence / 3).min(RENEW_INTERVAL_MAX_MS);
        Timing {
            renew_ms: renew,
            fence_timeout_ms: fence,
            lease_ms: fence + (fence / 5).max(LEASE_MARGIN_MIN_MS),
            fresh_ms: (renew * 3).min(fence),
        }
    }
}

impl Default for Timing {
    /// Derived from the default node_timeout (10 s).
    fn default() -> Self {
        Timing::from_fence_timeout(10_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults() {
        let t = Timing::default();
        assert_eq!(
            (t.renew_ms, t.fence_timeout_ms, t.lease_ms, t.fresh_ms),
            (1000, 10_000, 12_000, 3000)
        );
    }

    proptest! {
        #[test]
        fn the_lease_always_outlasts_self_fencing(fence in 0u64..120_000) {
            let t = Timing::from_fence_timeout(fence);
            prop_assert!(t.lease_ms >= t.fence_timeout_ms + LEASE_MARGIN_MIN_MS);
            prop_assert!(t.renew_ms * 3 <= t.fence_timeout_ms);
            prop_assert!(t.fresh_ms <= t.fence_timeout_ms);
        }
    }
}
