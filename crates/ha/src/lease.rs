//! A node's own HA lease as the node must count it: the deadline by which it has
//! killed what its renewals promised, even when it cannot tell whether a renewal
//! committed. Pure; the daemon feeds it its boot-time clock, the simulator virtual time.
//!
//! The leader recovers a node's guests a lease after the last renewal it applied,
//! using the fence timeout that renewal announced (or the configured one, if larger).
//! So the node must be dead by `sent + fence_timeout` of every renewal that *may* have
//! committed: a renewal known to commit sets the deadline from its send time; one
//! whose outcome is unknown (it timed out, the connection broke) can only bring the
//! deadline closer, and only add to what is covered. Once the deadline passed the
//! lease stays lapsed (and the fence keeps killing what it covers) until a renewal
//! commits: a start that was under way when the daemon stalled dies too.

use std::collections::BTreeSet;

use crate::ServiceId;

/// The lease of this node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    /// When everything covered must be dead, in the caller's clock (ms).
    deadline_ms: Option<u64>,
    /// The fence timeout the last known-committed renewal announced.
    fence_timeout_ms: Option<u64>,
    /// What every renewal that may have committed promised to kill.
    covers: BTreeSet<ServiceId>,
    /// A renewal is known to have committed since the node started counting.
    confirmed: bool,
}

impl Lease {
    /// A renewal sent at `sent_ms`, announcing `fence_timeout_ms` and `covers`, committed.
    pub fn committed(&mut self, sent_ms: u64, fence_timeout_ms: u64, covers: BTreeSet<ServiceId>) {
        self.deadline_ms = Some(sent_ms.saturating_add(fence_timeout_ms));
        self.fence_timeout_ms = Some(fence_timeout_ms);
        self.covers = covers;
        self.confirmed = true;
    }

    /// A renewal sent at `sent_ms` may or may not have committed.
    pub fn uncertain(&mut self, sent_ms: u64, fence_timeout_ms: u64, covers: &BTreeSet<ServiceId>) {
        let d = sent_ms.saturating_add(fence_timeout_ms);
        self.deadline_ms = Some(self.deadline_ms.map_or(d, |old| old.min(d)));
        self.covers.extend(covers.iter().copied());
    }

    /// After a daemon restart: the deadline the last run handed the watchdog, and what
    /// it covered. No lease is held until a renewal commits, but that deadline stands.
    pub fn restore(deadline_ms: u64, covers: BTreeSet<ServiceId>) -> Lease {
        Lease {
            deadline_ms: Some(deadline_ms),
            fence_timeout_ms: None,
            covers,
            confirmed: false,
        }
    }

    /// Whether the lease holds at `now_ms`: a renewal is known to have committed and
    /// the deadline has not passed. Only then may the node start a guest.
    pub fn valid(&self, now_ms: u64) -> bool {
        self.confirmed && self.deadline_ms.is_some_and(|d| now_ms < d)
    }

    /// Whether a deadline passed: everything covered must die now.
    pub fn lapsed(&self, now_ms: u64) -> bool {
        self.deadline_ms.is_some_and(|d| now_ms >= d)
    }

    /// The deadline, if any renewal may have committed.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.deadline_ms
    }

    /// Milliseconds left until the deadline (0 once passed or without one).
    pub fn remaining_ms(&self, now_ms: u64) -> u64 {
        self.deadline_ms
            .map(|d| d.saturating_sub(now_ms))
            .unwrap_or(0)
    }

    /// The fence timeout of the last known-committed renewal.
    pub fn fence_timeout_ms(&self) -> Option<u64> {
        self.fence_timeout_ms
    }

    /// What renewals that may have committed promised to kill.
    pub fn covers(&self) -> &BTreeSet<ServiceId> {
        &self.covers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(ids: &[u32]) -> BTreeSet<ServiceId> {
        ids.iter()
            .map(|i| format!("vm:{i}").parse().expect("sid"))
            .collect()
    }

    #[test]
    fn a_committed_renewal_sets_the_deadline_and_an_uncertain_one_only_shortens_it() {
        let mut l = Lease::default();
        assert!(!l.valid(0) && !l.lapsed(0));
        l.committed(1000, 30_000, set(&[100]));
        assert_eq!(l.deadline_ms(), Some(31_000));
        assert!(l.valid(30_999) && !l.valid(31_000) && l.lapsed(31_000));
        // The timeout was lowered; this renewal's fate is unknown: it may be the one
        // the leader counts from, with 10 s.
        l.uncertain(2000, 10_000, &set(&[101]));
        assert_eq!(l.deadline_ms(), Some(12_000));
        assert_eq!(l.covers(), &set(&[100, 101]));
        // Raised again, unknown again: never later than a renewal that may count.
        l.uncertain(3000, 60_000, &set(&[]));
        assert_eq!(l.deadline_ms(), Some(12_000));
        l.committed(4000, 60_000, set(&[100]));
        assert_eq!(
            (l.deadline_ms(), l.fence_timeout_ms()),
            (Some(64_000), Some(60_000))
        );
        assert_eq!(l.covers(), &set(&[100]));
    }

    #[test]
    fn an_uncertain_first_renewal_sets_a_deadline_but_gives_no_lease() {
        let mut l = Lease::default();
        l.uncertain(500, 3000, &set(&[100]));
        assert!(!l.valid(600), "nothing is known to have committed");
        assert!(l.lapsed(3500), "but what it may have promised dies on time");
    }

    proptest! {
        /// Whatever happened, the deadline is never later than sent + fence of any
        /// renewal that may have committed after the last one known to have.
        #[test]
        fn the_deadline_never_outlives_a_renewal_that_may_count(
            renewals in proptest::collection::vec((0u64..5000, 1500u64..60_000, any::<bool>()), 1..30)
        ) {
            let mut l = Lease::default();
            let mut t = 0;
            let mut bound: Option<u64> = None;
            for (gap, fence, ok) in renewals {
                t += gap;
                if ok {
                    l.committed(t, fence, BTreeSet::new());
                    bound = Some(t + fence);
                } else {
                    l.uncertain(t, fence, &BTreeSet::new());
                    bound = Some(bound.map_or(t + fence, |b| b.min(t + fence)));
                }
                prop_assert!(l.deadline_ms() <= bound);
                prop_assert_eq!(l.deadline_ms(), bound);
            }
        }
    }
}
