//! Quorum as a lease: the leader is quorate while a majority acknowledged it
//! recently; a follower while it heard such a leader recently.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tracks whether this node currently holds a quorum lease.
#[derive(Debug)]
pub struct QuorumTracker {
    lease: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// As leader: when a majority last acknowledged us (by our monotonic clock).
    leader_acked_at: Option<Instant>,
    /// As follower or learner: until when the leader's lease, as relayed to us, is valid.
    follower_lease_until: Option<Instant>,
    is_leader: bool,
}

impl QuorumTracker {
    pub fn new(lease: Duration) -> Self {
        QuorumTracker {
            lease,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Records Raft's view: whether we lead and how long ago a majority acknowledged us.
    pub fn observe(&self, is_leader: bool, millis_since_quorum_ack: Option<u64>, now: Instant) {
        let mut i = self.inner();
        i.is_leader = is_leader;
        i.leader_acked_at = match (is_leader, millis_since_quorum_ack) {
            (true, Some(ms)) => now.checked_sub(Duration::from_millis(ms)),
            _ => None,
        };
        if is_leader {
            i.follower_lease_until = None;
        }
    }

    /// As leader: how much of our lease is left, to relay to followers.
    pub fn leader_lease_remaining(&self, now: Instant) -> Duration {
        let i = self.inner();
        match (i.is_leader, i.leader_acked_at) {
            (true, Some(at)) => self.lease.saturating_sub(now.saturating_duration_since(at)),
            _ => Duration::ZERO,
        }
    }

    /// As follower: the leader told us its lease has `remaining` left.
    pub fn on_leader_message(&self, remaining: Duration, now: Instant) {
        let mut i = self.inner();
        if !i.is_leader {
            let until = now + remaining.min(self.lease);
            i.follower_lease_until = Some(until);
        }
    }

    /// Whether this node may accept writes now.
    pub fn is_quorate(&self, now: Instant) -> bool {
        let i = self.inner();
        if i.is_leader {
            i.leader_acked_at
                .is_some_and(|at| now.saturating_duration_since(at) < self.lease)
        } else {
            i.follower_lease_until.is_some_and(|until| now < until)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(2);

    #[test]
    fn leader_lease_runs_out_without_acks() {
        let q = QuorumTracker::new(LEASE);
        let t0 = Instant::now();
        assert!(!q.is_quorate(t0), "nothing known yet");
        q.observe(true, Some(0), t0);
        assert!(q.is_quorate(t0 + Duration::from_millis(1999)));
        assert!(!q.is_quorate(t0 + Duration::from_millis(2000)));
        assert_eq!(
            q.leader_lease_remaining(t0 + Duration::from_millis(500)),
            Duration::from_millis(1500)
        );
        q.observe(true, None, t0);
        assert!(
            !q.is_quorate(t0),
            "a leader never acknowledged is not quorate"
        );
    }

    #[test]
    fn follower_lease_comes_from_the_leader() {
        let q = QuorumTracker::new(LEASE);
        let t0 = Instant::now();
        q.observe(false, None, t0);
        q.on_leader_message(Duration::from_millis(1500), t0);
        assert!(q.is_quorate(t0 + Duration::from_millis(1499)));
        assert!(!q.is_quorate(t0 + Duration::from_millis(1500)));
        q.on_leader_message(Duration::from_secs(60), t0);
        assert!(
            !q.is_quorate(t0 + LEASE),
            "a relayed lease is capped at our own lease"
        );
        q.on_leader_message(Duration::ZERO, t0);
        assert!(!q.is_quorate(t0), "an unacknowledged leader grants nothing");
    }

    #[test]
    fn losing_leadership_drops_the_leader_lease() {
        let q = QuorumTracker::new(LEASE);
        let t0 = Instant::now();
        q.observe(true, Some(0), t0);
        q.observe(false, None, t0);
        assert!(!q.is_quorate(t0));
        assert_eq!(q.leader_lease_remaining(t0), Duration::ZERO);
    }
}
