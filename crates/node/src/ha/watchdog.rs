//! The watchdog helper (like watchdog-mux): a separate process, in its own cgroup, fed
//! by the daemon with the lease's deadline (CLOCK_BOOTTIME). From that deadline on,
//! until a later one is fed, it kills the node's HA guests every poll, whatever the
//! daemon does (hung, dead, frozen). With a watchdog device it also keeps the device
//! alive only until the deadline minus the device's timeout, so the machine resets
//! by the deadline if nothing else worked.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use brigade_core::layout::GuestKind;
use brigade_guest::process::{self, Signal};
use brigade_guest::{running_guests, RunDir};

use super::clock::boot_ms;

/// How often the helper checks its feed and, past the deadline, kills.
pub const WATCHDOG_POLL: Duration = Duration::from_millis(50);
/// How often it checks while disarmed (nothing to kill): a first deadline is at least
/// a fence timeout (1.5 s or more) after it is fed, so it is seen long before it passes.
pub const WATCHDOG_IDLE_POLL: Duration = Duration::from_millis(500);
/// How often a watchdog device is written while it must stay alive.
pub const DEVICE_KEEPALIVE_INTERVAL: Duration = Duration::from_millis(1000);
/// The version of the feed the helper reads; a helper of another version is replaced.
pub const HELPER_PROTOCOL: u32 = 2;

/// Why the helper could not run or be started.
#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Guest(#[from] brigade_guest::GuestError),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> WatchdogError {
    let context = context.into();
    move |source| WatchdogError::Io { context, source }
}

/// A parsed feed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Kill HA guests from `deadline_ms` (CLOCK_BOOTTIME) on, unless fed again.
    Armed {
        seq: u64,
        deadline_ms: u64,
    },
    Disarmed {
        seq: u64,
    },
}

impl Feed {
    pub fn parse(s: &str) -> Option<Feed> {
        let mut it = s.split_whitespace();
        let seq = it.next()?.parse().ok()?;
        match it.next()? {
            "disarmed" => Some(Feed::Disarmed { seq }),
            "armed" => Some(Feed::Armed {
                seq,
                deadline_ms: it.next()?.parse().ok()?,
            }),
            _ => None,
        }
    }

    pub fn seq(self) -> u64 {
        match self {
            Feed::Armed { seq, .. } | Feed::Disarmed { seq } => seq,
        }
    }

    pub fn to_line(self) -> String {
        match self {
            Feed::Armed { seq, deadline_ms } => format!("{seq} armed {deadline_ms}\n"),
            Feed::Disarmed { seq } => format!("{seq} disarmed\n"),
        }
    }
}

/// The HA-managed VMIDs the fence kills (`ha-vmids` in the run dir).
pub fn fence_set(run: &RunDir) -> Vec<u32> {
    std::fs::read_to_string(run.ha_vmids())
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// Sends SIGKILL to every guest of the fence set running in `run`; returns their VMIDs.
pub fn kill_ha_guests(run: &RunDir) -> Vec<u32> {
    let ha = fence_set(run);
    let mut killed = Vec::new();
    for g in running_guests(run)
        .into_iter()
        .filter(|g| ha.contains(&g.vmid))
    {
        if g.kind == GuestKind::Lxc {
            // The container's whole pid namespace, not just its supervisor.
            let _ = process::send_group(g.pid, Signal::SIGKILL);
        }
        let _ = process::send(g.pid, Signal::SIGKILL);
        killed.push(g.vmid);
    }
    killed
}

/// Kills the fence set and waits for the processes to be gone; returns the killed
/// VMIDs and those still alive after `timeout` (stuck in uninterruptible sleep).
pub async fn kill_ha_guests_and_wait(run: &RunDir, timeout: Duration) -> (Vec<u32>, Vec<u32>) {
    let killed = kill_ha_guests(run);
    let pids: Vec<(u32, i32)> = running_guests(run)
        .into_iter()
        .filter(|g| killed.contains(&g.vmid))
        .map(|g| (g.vmid, g.pid))
        .collect();
    let mut stuck = Vec::new();
    for (vmid, pid) in pids {
        if !process::wait_gone(pid, timeout).await {
            stuck.push(vmid);
        }
    }
    (killed, stuck)
}

/// A watchdog device the helper keeps alive (e.g. /dev/watchdog with softdog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub path: PathBuf,
    /// The timeout the device was set up with.
    pub timeout: Duration,
}

/// What the helper must do at one poll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    /// The deadline passed: kill the fence set.
    pub kill: bool,
    /// Write a keepalive to the device.
    pub keepalive: bool,
    /// Disarmed: close the device with the magic 'V' so it stops counting.
    pub magic_close: bool,
}

/// The helper's decisions, pure: the feed it last read and the device's timing.
#[derive(Debug, Clone, Default)]
pub struct HelperState {
    last_seq: Option<u64>,
    deadline_ms: Option<u64>,
    device_timeout_ms: Option<u64>,
    last_keepalive_ms: Option<u64>,
    device_open: bool,
}

impl HelperState {
    pub fn new(device_timeout: Option<Duration>) -> HelperState {
        HelperState {
            device_timeout_ms: device_timeout.map(|d| d.as_millis() as u64),
            ..HelperState::default()
        }
    }

    /// A feed was read (repeated reads of the same line change nothing).
    pub fn feed(&mut self, f: Feed) {
        if self.last_seq == Some(f.seq()) {
            return;
        }
        self.last_seq = Some(f.seq());
        self.deadline_ms = match f {
            Feed::Armed { deadline_ms, .. } => Some(deadline_ms),
            Feed::Disarmed { .. } => None,
        };
    }

    /// How long to sleep before the next check: [`WATCHDOG_POLL`] while a deadline is
    /// fed, [`WATCHDOG_IDLE_POLL`] while disarmed.
    pub fn poll_interval(&self) -> Duration {
        if self.deadline_ms.is_some() || self.device_open {
            WATCHDOG_POLL
        } else {
            WATCHDOG_IDLE_POLL
        }
    }

    /// What to do at `now_ms`.
    pub fn due(&mut self, now_ms: u64) -> Due {
        let mut due = Due::default();
        match self.deadline_ms {
            Some(d) => {
                due.kill = now_ms >= d;
                if let Some(t) = self.device_timeout_ms {
                    // Fed only while a reset counted from now would come before the
                    // deadline: after the last keepalive the device fires by then.
                    let fresh = now_ms.saturating_add(t) < d;
                    let time = self.last_keepalive_ms.is_none_or(|k| {
                        now_ms.saturating_sub(k) >= DEVICE_KEEPALIVE_INTERVAL.as_millis() as u64
                    });
                    if fresh && time {
                        due.keepalive = true;
                        self.last_keepalive_ms = Some(now_ms);
                        self.device_open = true;
                    }
                }
            }
            None => {
                if self.device_open {
                    due.magic_close = true;
                    self.device_open = false;
                    self.last_keepalive_ms = None;
                }
            }
        }
        due
    }
}

/// Closes every descriptor above stderr this process inherited (the helper outlives
/// the daemon and whatever started it; it must not keep their files, locks or sockets).
fn close_inherited_fds() {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                .filter(|fd| *fd > 2)
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        // The directory listing's own descriptor is among them: closing it is harmless.
        let _ = nix::unistd::close(fd);
    }
}

/// The helper's main loop (`brigade node watchdog --run-dir DIR [--device PATH]`).
/// Never returns unless it cannot read its run directory.
pub fn run(run_dir: &Path, device: Option<Device>) -> Result<(), WatchdogError> {
    close_inherited_fds();
    let run = RunDir::open(run_dir)?;
    eprintln!(
        "brigade watchdog: watching {} (protocol {HELPER_PROTOCOL}){}",
        run_dir.display(),
        device
            .as_ref()
            .map(|d| format!(", device {} ({} s)", d.path.display(), d.timeout.as_secs()))
            .unwrap_or_default()
    );
    let mut state = HelperState::new(device.as_ref().map(|d| d.timeout));
    let mut dev: Option<std::fs::File> = None;
    let mut fired = false;
    loop {
        if let Some(feed) = std::fs::read_to_string(run.watchdog_feed())
            .ok()
            .and_then(|s| Feed::parse(&s))
        {
            state.feed(feed);
        }
        let due = state.due(boot_ms());
        if due.kill {
            let killed = kill_ha_guests(&run);
            if !fired || !killed.is_empty() {
                eprintln!(
                    "brigade watchdog: the lease deadline passed without a later feed: killed HA guests {killed:?}"
                );
            }
            fired = true;
        } else {
            fired = false;
        }
        if let Some(d) = &device {
            if due.keepalive {
                if dev.is_none() {
                    match std::fs::OpenOptions::new().write(true).open(&d.path) {
                        Ok(f) => dev = Some(f),
                        Err(e) => {
                            eprintln!("brigade watchdog: cannot open {}: {e}", d.path.display());
                        }
                    }
                }
                if let Some(f) = dev.as_mut() {
                    if let Err(e) = f.write_all(b"\0").and_then(|()| f.flush()) {
                        eprintln!(
                            "brigade watchdog: keepalive to {} failed: {e}",
                            d.path.display()
                        );
                    }
                }
            }
            if due.magic_close {
                if let Some(mut f) = dev.take() {
                    let _ = f.write_all(b"V").and_then(|()| f.flush());
                }
            }
        }
        std::thread::sleep(state.poll_interval());
    }
}

/// The live helper of `run` and its protocol (from its command line), if one runs.
fn live_helper(run: &RunDir) -> Option<(i32, u32)> {
    let pid = process::read_pidfile(&run.watchdog_pid())?;
    let marker = run.root().to_string_lossy().into_owned();
    let args = process::cmdline(pid);
    let alive = process::is_alive(pid)
        && args.iter().any(|a| a.contains(&marker))
        && args.iter().any(|a| a == "watchdog");
    let proto = args
        .iter()
        .position(|a| a == "--protocol")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1);
    alive.then_some((pid, proto))
}

/// Whether the helper of `run` is alive and speaks this daemon's protocol.
pub fn helper_alive(run: &RunDir) -> bool {
    live_helper(run).is_some_and(|(_, p)| p == HELPER_PROTOCOL)
}

/// What `ensure_running` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperStart {
    AlreadyRunning,
    Started { pid: u32 },
}

/// Starts the helper for `run` unless it runs already (it outlives the daemon); one
/// of an older protocol is replaced. The new helper gets its own cgroup, so freezing
/// the daemon's (a paused container, `systemctl freeze`) does not freeze it.
pub fn ensure_running(run: &RunDir, device: Option<&Device>) -> Result<HelperStart, WatchdogError> {
    match live_helper(run) {
        Some((_, p)) if p == HELPER_PROTOCOL => return Ok(HelperStart::AlreadyRunning),
        Some((pid, p)) => {
            eprintln!("replacing the watchdog helper {pid} (protocol {p})");
            let _ = process::send(pid, Signal::SIGKILL);
        }
        None => {}
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.root().join("watchdog.log"))
        .map_err(io("cannot open watchdog.log"))?;
    let exe = std::env::current_exe().map_err(io("cannot find the brigade binary"))?;
    let mut cmd = std::process::Command::new("setsid");
    cmd.arg(exe)
        .args([
            "node",
            "watchdog",
            "--protocol",
            &HELPER_PROTOCOL.to_string(),
            "--run-dir",
        ])
        .arg(run.root());
    if let Some(d) = device {
        cmd.arg("--device")
            .arg(&d.path)
            .arg("--device-timeout")
            .arg(d.timeout.as_secs().to_string());
    }
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(io("cannot open watchdog.log"))?)
        .stderr(log)
        .spawn()
        .map_err(io("cannot start the watchdog helper"))?;
    let pid = child.id();
    std::fs::write(run.watchdog_pid(), format!("{pid}\n"))
        .map_err(io("cannot write watchdog.pid"))?;
    if let Err(e) = super::cgroup::isolate(pid, &run.root().to_string_lossy()) {
        tracing::warn!("the watchdog helper shares the daemon's cgroups: {e}");
    }
    // Reaped by a thread so it never lingers as a zombie of the daemon.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(HelperStart::Started { pid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_lines() {
        for f in [
            Feed::Armed {
                seq: 3,
                deadline_ms: 9000,
            },
            Feed::Disarmed { seq: 4 },
        ] {
            assert_eq!(Feed::parse(&f.to_line()), Some(f));
        }
        for bad in ["x 1", "1 soon", "1 armed", "1 armed x", "3 9000", ""] {
            assert_eq!(Feed::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_helper_kills_from_the_deadline_on_until_fed_a_later_one() {
        let mut h = HelperState::new(None);
        assert_eq!(h.due(0), Due::default(), "nothing fed: nothing to do");
        h.feed(Feed::Armed {
            seq: 1,
            deadline_ms: 10_000,
        });
        assert!(!h.due(9_999).kill);
        assert!(h.due(10_000).kill);
        // It keeps killing: a guest started late by a stalled daemon dies too.
        assert!(h.due(10_050).kill && h.due(60_000).kill);
        // The same line read again changes nothing; a new one with a later deadline does.
        h.feed(Feed::Armed {
            seq: 1,
            deadline_ms: 90_000,
        });
        assert!(h.due(60_050).kill);
        h.feed(Feed::Armed {
            seq: 2,
            deadline_ms: 90_000,
        });
        assert!(!h.due(60_100).kill);
        h.feed(Feed::Disarmed { seq: 3 });
        assert!(!h.due(100_000).kill);
    }

    #[test]
    fn the_helper_polls_fast_only_while_a_deadline_is_fed() {
        let mut h = HelperState::new(None);
        assert_eq!(h.poll_interval(), WATCHDOG_IDLE_POLL, "nothing fed");
        h.feed(Feed::Armed {
            seq: 1,
            deadline_ms: 10_000,
        });
        assert_eq!(h.poll_interval(), WATCHDOG_POLL);
        h.feed(Feed::Disarmed { seq: 2 });
        assert_eq!(h.poll_interval(), WATCHDOG_IDLE_POLL);
        // A first deadline is never nearer than the shortest fence timeout: the idle
        // poll sees it with room to spare.
        assert!(
            WATCHDOG_IDLE_POLL.as_millis() * 2
                < u128::from(brigade_ha::timing::FENCE_TIMEOUT_MIN_MS)
        );
    }

    #[test]
    fn a_device_is_kept_alive_only_while_its_reset_would_come_after_the_deadline() {
        let mut h = HelperState::new(Some(Duration::from_secs(3)));
        h.feed(Feed::Armed {
            seq: 1,
            deadline_ms: 10_000,
        });
        let d = h.due(0);
        assert!(d.keepalive && !d.kill);
        assert!(!h.due(500).keepalive, "at most one keepalive a second");
        assert!(h.due(1000).keepalive);
        assert!(
            h.due(6999).keepalive,
            "a reset 3 s later still comes after 10 s"
        );
        assert!(
            !h.due(7000).keepalive,
            "from 7 s the device fires by the deadline"
        );
        assert!(!h.due(8500).keepalive);
        h.feed(Feed::Disarmed { seq: 2 });
        let d = h.due(8600);
        assert!(d.magic_close && !d.keepalive);
        assert!(!h.due(8700).magic_close, "closed once");
    }
}
