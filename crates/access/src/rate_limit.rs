//! Failed-login limiter, per user name and per source address, over a sliding window; time passed in.
//!
//! Before checking a password the daemon asks [`LoginLimiter::check`]; a refused login is
//! recorded with [`LoginLimiter::record_failure`] (also for unknown user names, so probing
//! names is limited the same way); a successful one clears that user's failures. Memory is
//! bounded: at most [`MAX_TRACKED_KEYS`] names and addresses each are remembered.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Failures of one user name within the window after which its logins are refused.
pub const USER_MAX_FAILURES: usize = 5;
/// Failures from one source address within the window after which its logins are refused.
pub const SOURCE_MAX_FAILURES: usize = 20;
/// The sliding window over which failures count, seconds.
pub const FAILURE_WINDOW_SECS: u64 = 15 * 60;
/// Most user names (and, separately, addresses) remembered at once.
pub const MAX_TRACKED_KEYS: usize = 10_000;

/// Which limit refused a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedBy {
    User,
    Source,
}

/// A login refused before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed logins; try again in {retry_after_secs} s")]
pub struct Limited {
    pub by: LimitedBy,
    pub retry_after_secs: u64,
}

/// Failure times per key, oldest first.
#[derive(Debug)]
struct Failures<K> {
    max: usize,
    by_key: HashMap<K, VecDeque<u64>>,
}

impl<K: std::hash::Hash + Eq + Clone> Failures<K> {
    fn new(max: usize) -> Self {
        Failures {
            max,
            by_key: HashMap::new(),
        }
    }

    fn prune(times: &mut VecDeque<u64>, now: u64) {
        while times
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= FAILURE_WINDOW_SECS)
        {
            times.pop_front();
        }
    }

    /// Seconds until a login is allowed again, if it is refused now.
    fn blocked_for(&mut self, key: &K, now: u64) -> Option<u64> {
        let times = self.by_key.get_mut(key)?;
        Self::prune(times, now);
        if times.len() < self.max {
            return None;
        }
        let oldest_counted = times.get(times.len() - self.max).copied()?;
        Some(
            (oldest_counted + FAILURE_WINDOW_SECS)
                .saturating_sub(now)
                .max(1),
        )
    }

    fn record(&mut self, key: &K, now: u64) {
        if !self.by_key.contains_key(key) && self.by_key.len() >= MAX_TRACKED_KEYS {
            self.evict(now);
        }
        let times = self.by_key.entry(key.clone()).or_default();
        Self::prune(times, now);
        times.push_back(now);
        // More than the limit adds nothing: keep memory per key bounded.
        while times.len() > self.max {
            times.pop_front();
        }
    }

    /// Forgets expired keys; if still full, the key whose last failure is oldest.
    fn evict(&mut self, now: u64) {
        self.by_key.retain(|_, times| {
            Self::prune(times, now);
            !times.is_empty()
        });
        if self.by_key.len() >= MAX_TRACKED_KEYS {
            let oldest = self
                .by_key
                .iter()
                .min_by_key(|(_, t)| t.back().copied().unwrap_or(0))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.by_key.remove(&k);
            }
        }
    }

    fn clear(&mut self, key: &K) {
        self.by_key.remove(key);
    }

    fn len(&self) -> usize {
        self.by_key.len()
    }
}

/// The limiter of one node (failures are not shared across nodes).
#[derive(Debug)]
pub struct LoginLimiter {
    users: Failures<String>,
    sources: Failures<IpAddr>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            users: Failures::new(USER_MAX_FAILURES),
            sources: Failures::new(SOURCE_MAX_FAILURES),
        }
    }
}

impl LoginLimiter {
    /// Whether a login of `user` from `source` may be tried at `now`.
    pub fn check(&mut self, user: &str, source: IpAddr, now: u64) -> Result<(), Limited> {
        if let Some(secs) = self.sources.blocked_for(&source, now) {
            return Err(Limited {
                by: LimitedBy::Source,
                retry_after_secs: secs,
            });
        }
        if let Some(secs) = self.users.blocked_for(&user.to_string(), now) {
            return Err(Limited {
                by: LimitedBy::User,
                retry_after_secs: secs,
            });
        }
        Ok(())
    }

    /// Records a failed login.
    pub fn record_failure(&mut self, user: &str, source: IpAddr, now: u64) {
        self.users.record(&user.to_string(), now);
        self.sources.record(&source, now);
    }

    /// Records a successful login: the user's failures are forgotten (the source's are not).
    pub fn record_success(&mut self, user: &str) {
        self.users.clear(&user.to_string());
    }

    /// How many user names and addresses are remembered.
    pub fn tracked(&self) -> (usize, usize) {
        (self.users.len(), self.sources.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_user_is_limited_after_its_failures_until_the_window_passes() {
        let mut l = LoginLimiter::default();
        for i in 0..USER_MAX_FAILURES as u64 {
            assert_eq!(l.check("alice@pve", ip(i as u8), T0 + i), Ok(()));
            l.record_failure("alice@pve", ip(i as u8), T0 + i);
        }
        let refused = l.check("alice@pve", ip(99), T0 + 10).expect_err("limited");
        assert_eq!(refused.by, LimitedBy::User);
        assert_eq!(refused.retry_after_secs, FAILURE_WINDOW_SECS - 10);
        assert_eq!(
            l.check("bob@pve", ip(99), T0 + 10),
            Ok(()),
            "other users are not affected"
        );
        assert_eq!(
            l.check("alice@pve", ip(99), T0 + FAILURE_WINDOW_SECS),
            Ok(()),
            "the first failure aged out"
        );
    }

    #[test]
    fn a_source_is_limited_across_user_names() {
        let mut l = LoginLimiter::default();
        for i in 0..SOURCE_MAX_FAILURES {
            l.record_failure(&format!("user{i}@pve"), ip(1), T0);
        }
        let refused = l.check("fresh@pve", ip(1), T0 + 1).expect_err("limited");
        assert_eq!(refused.by, LimitedBy::Source);
        assert_eq!(l.check("fresh@pve", ip(2), T0 + 1), Ok(()));
    }

    #[test]
    fn success_clears_the_users_failures() {
        let mut l = LoginLimiter::default();
        for _ in 0..USER_MAX_FAILURES - 1 {
            l.record_failure("alice@pve", ip(1), T0);
        }
        l.record_success("alice@pve");
        l.record_failure("alice@pve", ip(1), T0);
        assert_eq!(l.check("alice@pve", ip(1), T0), Ok(()));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut l = LoginLimiter::default();
        for i in 0..(MAX_TRACKED_KEYS + 50) {
            l.record_failure(&format!("u{i}@pve"), ip(1), T0 + i as u64 / 100);
        }
        assert!(l.tracked().0 <= MAX_TRACKED_KEYS);
        assert_eq!(l.tracked().1, 1);
        // Time going backwards does not panic.
        l.record_failure("alice@pve", ip(1), 0);
        let _ = l.check("alice@pve", ip(1), 0);
    }
}
