//! The switch-over as the guest feels it: the appliance's serial ticks (every
//! [`TICK_MS`] ms) watched on the host across both copies' logs, the largest gap between
//! two new ticks; and QEMU's STOP (source) to RESUME (target) from the events' own
//! timestamps.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;

/// The appliance's tick interval during the benchmark (`brigade.tick=`), ms.
pub const TICK_MS: u64 = 10;
/// How often the watcher reads the serial logs.
const WATCH_INTERVAL: Duration = Duration::from_millis(1);

/// Watches serial logs for new `tick N` lines from a thread, noting when each new
/// highest tick first appeared.
pub struct TickWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Instant, u64)>>,
}

/// One log being followed: its path and how far it was read.
struct Followed {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Followed {
    /// The ticks in the complete lines appended since the last read.
    fn new_ticks(&mut self) -> Vec<u64> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // A new QEMU truncated it.
            self.offset = 0;
            self.partial.clear();
        }
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let Some(end) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let done: String = self.partial.drain(..=end).collect();
        done.lines()
            .filter_map(|l| l.trim().strip_prefix("tick ")?.parse().ok())
            .collect()
    }
}

impl TickWatch {
    /// Starts following `logs` (the source's and the target's serial logs).
    pub fn start(logs: Vec<PathBuf>) -> TickWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut followed: Vec<Followed> = logs
                .into_iter()
                .map(|path| {
                    let offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    Followed {
                        path,
                        offset,
                        partial: String::new(),
                    }
                })
                .collect();
            let mut seen = Vec::new();
            let mut highest = 0;
            while !flag.load(Ordering::Relaxed) {
                let now = Instant::now();
                for f in &mut followed {
                    for t in f.new_ticks() {
                        if t > highest {
                            highest = t;
                            seen.push((now, t));
                        }
                    }
                }
                std::thread::sleep(WATCH_INTERVAL);
            }
            seen
        });
        TickWatch { stop, thread }
    }

    /// Stops and returns the largest gap between two successive new ticks, ms.
    pub fn finish(self) -> anyhow::Result<f64> {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("the tick watcher panicked"))?;
        largest_gap(&seen).context("fewer than two ticks seen during the migration")
    }
}

/// The largest interval between successive observations, ms.
fn largest_gap(seen: &[(Instant, u64)]) -> Option<f64> {
    seen.windows(2)
        .map(|w| w[1].0.duration_since(w[0].0).as_secs_f64() * 1000.0)
        .reduce(f64::max)
}

/// A QMP event's timestamp (QEMU's host clock), seconds.
pub fn event_time(event: &Value) -> anyhow::Result<f64> {
    let ts = event.get("timestamp").context("event without timestamp")?;
    let s = ts
        .get("seconds")
        .and_then(Value::as_f64)
        .context("seconds")?;
    let us = ts
        .get("microseconds")
        .and_then(Value::as_f64)
        .context("microseconds")?;
    Ok(s + us / 1e6)
}

/// STOP on the source to RESUME on the target, ms.
pub fn stop_to_resume_ms(stop: &Value, resume: &Value) -> anyhow::Result<f64> {
    Ok((event_time(resume)? - event_time(stop)?) * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stop_to_resume_uses_the_event_timestamps() {
        let stop = json!({"event": "STOP", "timestamp": {"seconds": 100, "microseconds": 900_000}});
        let resume =
            json!({"event": "RESUME", "timestamp": {"seconds": 101, "microseconds": 20_000}});
        let ms = stop_to_resume_ms(&stop, &resume).expect("times");
        assert!((ms - 120.0).abs() < 1e-6, "{ms}");
        assert!(stop_to_resume_ms(&json!({"event": "STOP"}), &resume).is_err());
    }

    #[test]
    fn the_largest_gap_between_new_ticks() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let seen = [(at(0), 1), (at(10), 2), (at(95), 3), (at(105), 4)];
        let gap = largest_gap(&seen).expect("gap");
        assert!((gap - 85.0).abs() < 1e-6, "{gap}");
        assert_eq!(largest_gap(&seen[..1]), None);
    }

    #[test]
    fn followed_logs_yield_only_complete_new_lines() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("log");
        std::fs::write(&path, "tick 1\ntick 2\nti").expect("write");
        let mut f = Followed {
            path: path.clone(),
            offset: 0,
            partial: String::new(),
        };
        assert_eq!(f.new_ticks(), vec![1, 2]);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        std::io::Write::write_all(&mut file, b"ck 3\nnet eth0\n").expect("append");
        assert_eq!(f.new_ticks(), vec![3]);
        std::fs::write(&path, "tick 9\n").expect("truncate");
        assert_eq!(f.new_ticks(), vec![9]);
    }
}
