//! The nemesis: injects the schedule's faults one after the other against the running
//! cluster, heals each after its hold, and records what it did, the windows in which
//! a node certainly had no quorum, and every daemon exit it did not cause (that daemon
//! is restarted, so the run goes on).

pub mod disk;
mod migration;
pub mod net;
mod nodes;

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::checkers::corruption::CorruptionOutcome;
use crate::checkers::crashes::UnexpectedExit;
use crate::checkers::quorum::{certain_minority, MinorityWindow};
use crate::cluster::{clock_file, ChaosCluster};
use crate::history::{micros, History, Micros};
use crate::report::FaultRecord;
use crate::schedule::{Fault, PlannedFault, Schedule, Target};

/// How often the nemesis looks for daemons that exited by themselves.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// How long a quorum lease may outlive the contact it rests on (the lease, 2 s, and a
/// margin): after a cut, a node out of reach of a majority is certainly without quorum
/// from then on.
pub const LEASE_GRACE: Duration = Duration::from_millis(3_500);
/// Bound of one API call of the nemesis (a paused node would hold it for its timeout).
pub const API_TIMEOUT: Duration = Duration::from_secs(3);
/// Lines of a daemon's log kept when it exits unexpectedly.
const LOG_TAIL: usize = 12;

/// The nemesis and what it recorded.
pub struct Executor {
    pub cc: ChaosCluster,
    history: History,
    seed: u64,
    pub records: Vec<FaultRecord>,
    pub windows: Vec<MinorityWindow>,
    pub exits: Vec<UnexpectedExit>,
    pub corruptions: Vec<CorruptionOutcome>,
    /// Whether each process (nodes, then the qdevice) should be running.
    expected_up: Vec<bool>,
}

fn log_tail(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

impl Executor {
    pub fn new(cc: ChaosCluster, history: History, seed: u64) -> Self {
        let n = cc.c.nodes.len();
        Executor {
            cc,
            history,
            seed,
            records: Vec::new(),
            windows: Vec::new(),
            exits: Vec::new(),
            corruptions: Vec::new(),
            expected_up: vec![true; n],
        }
    }

    fn now(&self) -> Micros {
        self.history.now()
    }

    fn nodes(&self) -> usize {
        self.cc.names.len()
    }

    /// A daemon's log file.
    fn log(&self, i: usize) -> String {
        let name = &self.cc.c.nodes[i].name;
        std::fs::read_to_string(self.cc.setup.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Records and restarts daemons that exited though nothing stopped them.
    fn watch(&mut self) {
        for i in 0..self.expected_up.len() {
            if self.expected_up[i] && !self.cc.c.nodes[i].is_running() {
                let node = self.cc.c.nodes[i].name.clone();
                tracing::warn!("{node}'s daemon exited by itself; restarting it");
                self.exits.push(UnexpectedExit {
                    node,
                    at: self.now(),
                    status: "exited".into(),
                    log_tail: log_tail(&self.log(i)),
                });
                let _ = self.cc.c.start(i);
            }
        }
    }

    /// Sleeps, watching the daemons meanwhile.
    async fn hold(&mut self, d: Duration) {
        let until = Instant::now() + d;
        loop {
            self.watch();
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(WATCH_INTERVAL)).await;
        }
    }

    /// Runs the schedule's faults that start before `end`, counted from `base`; then
    /// waits out the rest of `end`.
    pub async fn run(
        &mut self,
        schedule: &Schedule,
        base: Instant,
        end: Duration,
        say: &dyn Fn(&str),
    ) {
        for f in &schedule.faults {
            let at = Duration::from_millis(f.at_ms);
            if at >= end {
                break;
            }
            let wait = (base + at).saturating_duration_since(Instant::now());
            self.hold(wait).await;
            if base.elapsed() >= end {
                break;
            }
            let started = self.now();
            let (description, note) = self.inject(f).await;
            say(&format!(
                "fault #{} at {:.1} s: {description}{}",
                f.index,
                started as f64 / 1e6,
                note.as_deref()
                    .map(|n| format!(" [{n}]"))
                    .unwrap_or_default()
            ));
            self.records.push(FaultRecord {
                index: f.index,
                kind: f.fault.kind(),
                description,
                started,
                healed: Some(self.now()),
                note,
            });
        }
        let rest = (base + end).saturating_duration_since(Instant::now());
        self.hold(rest).await;
    }

    /// A node index for `t`: the leader when one is known, else one drawn from the seed.
    async fn resolve(&self, t: Target, index: usize) -> (usize, bool) {
        match t {
            Target::Node(i) => (i, false),
            Target::Leader => {
                if let Some(i) = self.leader().await {
                    (i, true)
                } else {
                    let mut rng = StdRng::seed_from_u64(self.seed ^ index as u64);
                    (rng.gen_range(0..self.nodes()), false)
                }
            }
        }
    }

    /// Notes the windows in which the nodes `certain` cannot be quorate, from `from`.
    fn open_windows(&mut self, reach: &[Vec<bool>], from: Micros, to: Micros, fault: &str) {
        let votes = reach.len();
        for (i, certain) in certain_minority(reach, votes, self.nodes())
            .into_iter()
            .enumerate()
        {
            let from = from + micros(LEASE_GRACE);
            if certain && i < self.nodes() && from < to {
                self.windows.push(MinorityWindow {
                    node: self.cc.names[i].clone(),
                    from,
                    to,
                    fault: fault.to_string(),
                });
            }
        }
    }

    /// Injects one fault, holds it, heals it: what was done, and a note.
    async fn inject(&mut self, f: &PlannedFault) -> (String, Option<String>) {
        let hold = Duration::from_millis(f.hold_ms);
        let extra = self.cc.setup.qdevice;
        let n = self.nodes();
        let name = |i: usize| format!("n{}", i + 1);
        match &f.fault {
            Fault::Kill { target } => {
                let (i, leader) = self.resolve(*target, f.index).await;
                self.power_cut(i);
                self.hold(hold).await;
                let note = self.restart(i).await;
                (
                    format!(
                        "power cut of {}{} for {:.1} s",
                        name(i),
                        if leader { " (leader)" } else { "" },
                        hold.as_secs_f64()
                    ),
                    note,
                )
            }
            Fault::PartitionHalves { sides } => {
                let reach = net::reach_after_cut(n, extra, &sides[0], &sides[1]);
                self.partition(&f.fault, &sides[0], &sides[1], reach, hold)
                    .await
            }
            Fault::PartitionOne { node } => {
                let rest: Vec<usize> = (0..n).filter(|i| i != node).collect();
                let reach = net::reach_after_cut(n, extra, &[*node], &rest);
                self.partition(&f.fault, &[*node], &rest, reach, hold).await
            }
            Fault::PartitionBridge { a, c, .. } => {
                let reach = net::reach_after_cut(n, extra, a, c);
                self.partition(&f.fault, a, c, reach, hold).await
            }
            Fault::Loss { from, to, percent } => {
                let addrs: Vec<_> = to.iter().map(|i| self.cc.c.nodes[*i].addr).collect();
                let note = net::lose(self.cc.c.nodes[*from].addr, &addrs, *percent)
                    .err()
                    .map(|e| e.to_string());
                self.hold(hold).await;
                let healed = net::heal().err().map(|e| e.to_string());
                (f.fault.to_string(), note.or(healed))
            }
            Fault::Pause { target } => {
                let (i, leader) = self.resolve(*target, f.index).await;
                self.cc.c.pause(i);
                self.hold(hold).await;
                self.cc.c.resume(i);
                (
                    format!(
                        "SIGSTOP of {}'s daemon{} for {:.1} s",
                        name(i),
                        if leader { " (leader)" } else { "" },
                        hold.as_secs_f64()
                    ),
                    None,
                )
            }
            Fault::Clock { node, offset_s } => {
                let file = clock_file(&self.cc.setup.dir, &self.cc.names[*node]);
                let set = std::fs::write(&file, format!("{offset_s:+}s\n"))
                    .err()
                    .map(|e| e.to_string());
                self.hold(hold).await;
                let back = std::fs::write(&file, "+0\n").err().map(|e| e.to_string());
                (
                    format!(
                        "{}'s wall clock {offset_s:+} s for {:.1} s, then back",
                        name(*node),
                        hold.as_secs_f64()
                    ),
                    set.or(back),
                )
            }
            Fault::LeaderMigration {
                ha,
                to,
                delay_ms,
                power,
            } => {
                self.leader_migration(*ha, *to, *delay_ms, *power, hold)
                    .await
            }
            Fault::RestartAll { power } => {
                for i in 0..n {
                    if *power {
                        self.power_cut(i);
                    } else {
                        self.kill_daemon(i);
                    }
                }
                self.hold(hold).await;
                for i in 0..n {
                    self.start(i);
                }
                let mut notes = Vec::new();
                for i in 0..n {
                    notes.extend(self.wait_api(i).await);
                }
                (
                    f.fault.to_string(),
                    (!notes.is_empty()).then(|| notes.join("; ")),
                )
            }
            Fault::DiskFull { node } => {
                let state = self.cc.c.nodes[*node].state_dir();
                let filled = tokio::task::spawn_blocking({
                    let state = state.clone();
                    move || disk::fill(&state)
                })
                .await;
                let note = match filled {
                    Ok(Ok(bytes)) => format!("filled with {} MiB", bytes >> 20),
                    Ok(Err(e)) => format!("fill failed: {e}"),
                    Err(e) => format!("fill failed: {e}"),
                };
                self.hold(hold).await;
                let freed = disk::free(&state)
                    .err()
                    .map(|e| format!("; free failed: {e}"));
                (
                    format!(
                        "{}'s state disk full for {:.1} s",
                        name(*node),
                        hold.as_secs_f64()
                    ),
                    Some(note + &freed.unwrap_or_default()),
                )
            }
            Fault::Corrupt { node, log, damage } => {
                self.corrupt(*node, *log, *damage, f.index, hold).await
            }
        }
    }

    /// Cuts `a` from `b` for `hold`, noting the windows without quorum.
    async fn partition(
        &mut self,
        fault: &Fault,
        a: &[usize],
        b: &[usize],
        reach: Vec<Vec<bool>>,
        hold: Duration,
    ) -> (String, Option<String>) {
        let addrs =
            |s: &[usize]| -> Vec<_> { s.iter().map(|i| self.cc.c.nodes[*i].addr).collect() };
        let (aa, bb) = (addrs(a), addrs(b));
        let from = self.now();
        let note = net::cut(&aa, &bb).err().map(|e| e.to_string());
        self.hold(hold).await;
        let healed = net::heal().err().map(|e| e.to_string());
        let to = self.now();
        if note.is_none() {
            self.open_windows(&reach, from, to, &fault.to_string());
        }
        (
            format!("{fault} for {:.1} s", hold.as_secs_f64()),
            note.or(healed),
        )
    }
}
