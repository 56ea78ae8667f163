//! The one way brigade waits for something: poll a condition at an interval until it
//! holds or a deadline passes (async with the `wait` feature, and blocking).

use std::time::{Duration, Instant};

/// What a polled condition answers: `true`/`false`, or `Some(value)` once it holds.
pub trait Ready {
    /// What the wait returns once the condition holds.
    type Output;
    /// `Some` once the condition holds.
    fn ready(self) -> Option<Self::Output>;
}

impl Ready for bool {
    type Output = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Ready for Option<T> {
    type Output = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// A condition that did not hold by its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {waited:?}")]
pub struct TimedOut {
    /// How long the wait polled.
    pub waited: Duration,
}

/// How long to sleep before the next check: the interval, but never past the deadline
/// (the last check happens at the deadline). `None` once the deadline has passed.
fn next_sleep(deadline: Instant, interval: Duration) -> Option<Duration> {
    let left = deadline.checked_duration_since(Instant::now())?;
    (!left.is_zero()).then(|| interval.min(left))
}

/// Checks `condition` now and then every `interval` until it holds; the last check is
/// at `deadline`.
#[cfg(feature = "wait")]
pub async fn poll_until<R, F, Fut>(
    deadline: Instant,
    interval: Duration,
    mut condition: F,
) -> Result<R::Output, TimedOut>
where
    R: Ready,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = R>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = condition().await.ready() {
            return Ok(v);
        }
        match next_sleep(deadline, interval) {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                return Err(TimedOut {
                    waited: start.elapsed(),
                })
            }
        }
    }
}

/// [`poll_until`] for code without an async runtime: the thread sleeps between checks.
pub fn poll_until_blocking<R: Ready>(
    deadline: Instant,
    interval: Duration,
    mut condition: impl FnMut() -> R,
) -> Result<R::Output, TimedOut> {
    let start = Instant::now();
    loop {
        if let Some(v) = condition().ready() {
            return Ok(v);
        }
        match next_sleep(deadline, interval) {
            Some(d) => std::thread::sleep(d),
            None => {
                return Err(TimedOut {
                    waited: start.elapsed(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(1);

    #[test]
    fn a_condition_that_holds_at_once_is_checked_once() {
        let mut calls = 0;
        let r = poll_until_blocking(Instant::now(), TICK, || {
            calls += 1;
            Some(7)
        });
        assert_eq!((r, calls), (Ok(7), 1));
    }

    #[test]
    fn it_polls_until_the_condition_holds() {
        let mut calls = 0;
        let r = poll_until_blocking(Instant::now() + Duration::from_secs(10), TICK, || {
            calls += 1;
            calls == 3
        });
        assert_eq!((r, calls), (Ok(()), 3));
    }

    #[test]
    fn it_gives_up_at_the_deadline_after_a_last_check() {
        let deadline = Instant::now() + Duration::from_millis(20);
        let mut last = None;
        let r = poll_until_blocking(deadline, TICK, || {
            last = Some(Instant::now());
            false
        });
        let e = r.expect_err("never holds");
        assert!(e.waited >= Duration::from_millis(20), "{e}");
        assert!(
            last.is_some_and(|t| t >= deadline),
            "the last check is at the deadline"
        );
    }

    #[cfg(feature = "wait")]
    #[tokio::test]
    async fn the_async_wait_returns_the_value() {
        let mut n = 0;
        let r = poll_until(Instant::now() + Duration::from_secs(10), TICK, || {
            n += 1;
            let v = (n >= 2).then_some(n);
            async move { v }
        })
        .await;
        assert_eq!(r, Ok(2));
        let never = poll_until(Instant::now(), TICK, || async { false }).await;
        assert!(never.is_err());
    }
}
