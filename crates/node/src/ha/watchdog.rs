//! The watchdog helper (like watchdog-mux): a separate process, fed by the daemon only
//! while the node's HA lease is valid. If feeding stops (the daemon hung, died, or lost
//! its lease), it kills the node's HA guests at the lease's deadline.

use std::path::Path;
use std::time::{Duration, Instant};

use brigade_core::layout::GuestKind;
use brigade_guest::process::{self, Signal};
use brigade_guest::{running_guests, RunDir};

/// How often the helper checks its feed.
pub const WATCHDOG_POLL: Duration = Duration::from_millis(50);

/// A parsed feed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Kill HA guests unless fed again within this many ms.
    Armed {
        seq: u64,
        remaining_ms: u64,
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
            ms => Some(Feed::Armed {
                seq,
                remaining_ms: ms.parse().ok()?,
            }),
        }
    }

    fn seq(self) -> u64 {
        match self {
            Feed::Armed { seq, .. } | Feed::Disarmed { seq } => seq,
        }
    }

    pub fn to_line(self) -> String {
        match self {
            Feed::Armed { seq, remaining_ms } => format!("{seq} {remaining_ms}\n"),
            Feed::Disarmed { seq } => format!("{seq} disarmed\n"),
        }
    }
}

/// Kills every HA guest (per `ha-vmids`) running in `run`; returns their VMIDs.
pub fn kill_ha_guests(run: &RunDir) -> Vec<u32> {
    let ha: Vec<u32> = std::fs::read_to_string(run.ha_vmids())
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
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

/// The helper's main loop (`brigade node watchdog --run-dir DIR`). Never returns.
pub fn run(run_dir: &Path) -> anyhow::Result<()> {
    let run = RunDir::open(run_dir)?;
    eprintln!("brigade watchdog: watching {}", run_dir.display());
    let mut last_seq = None;
    let mut deadline: Option<Instant> = None;
    loop {
        if let Some(feed) = std::fs::read_to_string(run.watchdog_feed())
            .ok()
            .and_then(|s| Feed::parse(&s))
        {
            if last_seq != Some(feed.seq()) {
                last_seq = Some(feed.seq());
                deadline = match feed {
                    Feed::Armed { remaining_ms, .. } => {
                        Some(Instant::now() + Duration::from_millis(remaining_ms))
                    }
                    Feed::Disarmed { .. } => None,
                };
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let killed = kill_ha_guests(&run);
            eprintln!(
                "brigade watchdog: not fed before the lease deadline: killed HA guests {killed:?}"
            );
            deadline = None;
        }
        std::thread::sleep(WATCHDOG_POLL);
    }
}

/// Starts the helper for `run` unless it runs already (it outlives the daemon).
pub fn ensure_running(run: &RunDir) -> anyhow::Result<()> {
    let marker = run.root().to_string_lossy().into_owned();
    if process::live_pid(&run.watchdog_pid(), &marker).is_some() {
        return Ok(());
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.root().join("watchdog.log"))?;
    let child = std::process::Command::new("setsid")
        .arg(std::env::current_exe()?)
        .args(["node", "watchdog", "--run-dir"])
        .arg(run.root())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    std::fs::write(run.watchdog_pid(), format!("{}\n", child.id()))?;
    // Reaped by a thread so it never lingers as a zombie of the daemon.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_lines() {
        for f in [
            Feed::Armed {
                seq: 3,
                remaining_ms: 9000,
            },
            Feed::Disarmed { seq: 4 },
        ] {
            assert_eq!(Feed::parse(&f.to_line()), Some(f));
        }
        assert_eq!(Feed::parse("x 1"), None);
        assert_eq!(Feed::parse("1 soon"), None);
    }
}
