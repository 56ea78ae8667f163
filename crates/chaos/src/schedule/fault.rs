//! What a fault is: its kind, its targets and its text form (`kill n2`, `--faults kill,loss`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// SIGKILL of a node (daemon, watchdog helper, guests), then a restart.
    Kill,
    /// The nodes split in two halves.
    PartitionHalves,
    /// One node cut off from all others.
    PartitionOne,
    /// A sees B, B sees C, A does not see C.
    PartitionBridge,
    /// Packets from one node to others dropped at random, one way only.
    Loss,
    /// SIGSTOP of a daemon (often the leader), then SIGCONT.
    Pause,
    /// A node's wall clock jumps (libfaketime); monotonic time is untouched.
    Clock,
    /// The leader killed while a live migration runs.
    LeaderMigration,
    /// Every node's daemon killed at once, then all restarted.
    RestartAll,
    /// A node's state disk fills up, then is freed.
    DiskFull,
    /// A stopped node's store files damaged: it must refuse to start, and rejoin wiped.
    Corrupt,
}

impl FaultKind {
    pub const ALL: [FaultKind; 11] = [
        FaultKind::Kill,
        FaultKind::PartitionHalves,
        FaultKind::PartitionOne,
        FaultKind::PartitionBridge,
        FaultKind::Loss,
        FaultKind::Pause,
        FaultKind::Clock,
        FaultKind::LeaderMigration,
        FaultKind::RestartAll,
        FaultKind::DiskFull,
        FaultKind::Corrupt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::PartitionHalves => "partition-halves",
            FaultKind::PartitionOne => "partition-one",
            FaultKind::PartitionBridge => "partition-bridge",
            FaultKind::Loss => "loss",
            FaultKind::Pause => "pause",
            FaultKind::Clock => "clock",
            FaultKind::LeaderMigration => "leader-migration",
            FaultKind::RestartAll => "restart-all",
            FaultKind::DiskFull => "disk-full",
            FaultKind::Corrupt => "corrupt",
        }
    }

    /// Parses a comma-separated list (`partition` is the three partition kinds, `all` all).
    pub fn parse_list(s: &str) -> Result<Vec<FaultKind>, FaultKindError> {
        let mut out = Vec::new();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let kinds: Vec<FaultKind> = match word {
                "all" => FaultKind::ALL.to_vec(),
                "partition" => vec![
                    FaultKind::PartitionHalves,
                    FaultKind::PartitionOne,
                    FaultKind::PartitionBridge,
                ],
                w => vec![w.parse()?],
            };
            for k in kinds {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        if out.is_empty() {
            return Err(FaultKindError::Empty);
        }
        Ok(out)
    }
}

/// A fault-kind list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultKindError {
    #[error("unknown fault kind {given:?} (known: {known}, partition, all)")]
    Unknown { given: String, known: String },
    #[error("no fault kinds given")]
    Empty,
}

impl FromStr for FaultKind {
    type Err = FaultKindError;
    fn from_str(s: &str) -> Result<Self, FaultKindError> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                FaultKindError::Unknown {
                    given: s.to_string(),
                    known: names.join(", "),
                }
            })
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which node a fault hits: a fixed one, or whichever leads when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Node(usize),
    Leader,
}

/// Which store file a corruption damages, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Damage {
    /// One byte of a record's key changed (the store's checksums must catch it).
    Record,
    /// A 4 KiB page overwritten with random bytes, at a fraction of the file.
    Page { at_permille: u16 },
    /// The file's header overwritten.
    Header,
}

/// One fault with everything drawn for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fault {
    Kill {
        target: Target,
    },
    /// `sides[0]` and `sides[1]` cannot reach each other.
    PartitionHalves {
        sides: [Vec<usize>; 2],
    },
    PartitionOne {
        node: usize,
    },
    /// `a` and `c` cannot reach each other; `bridge` reaches both.
    PartitionBridge {
        a: Vec<usize>,
        bridge: usize,
        c: Vec<usize>,
    },
    Loss {
        from: usize,
        to: Vec<usize>,
        percent: u8,
    },
    Pause {
        target: Target,
    },
    Clock {
        node: usize,
        offset_s: i64,
    },
    /// `ha`: an HA migration of the HA VM, else a live migration of the plain VM;
    /// the leader dies `delay_ms` after the migration started; `power`: its guests too.
    LeaderMigration {
        ha: bool,
        to: usize,
        delay_ms: u64,
        power: bool,
    },
    /// `power`: the guests die too (a power loss of the whole cluster).
    RestartAll {
        power: bool,
    },
    DiskFull {
        node: usize,
    },
    Corrupt {
        node: usize,
        log: bool,
        damage: Damage,
    },
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Kill { .. } => FaultKind::Kill,
            Fault::PartitionHalves { .. } => FaultKind::PartitionHalves,
            Fault::PartitionOne { .. } => FaultKind::PartitionOne,
            Fault::PartitionBridge { .. } => FaultKind::PartitionBridge,
            Fault::Loss { .. } => FaultKind::Loss,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::Clock { .. } => FaultKind::Clock,
            Fault::LeaderMigration { .. } => FaultKind::LeaderMigration,
            Fault::RestartAll { .. } => FaultKind::RestartAll,
            Fault::DiskFull { .. } => FaultKind::DiskFull,
            Fault::Corrupt { .. } => FaultKind::Corrupt,
        }
    }
}

fn names(nodes: &[usize]) -> String {
    nodes
        .iter()
        .map(|i| format!("n{}", i + 1))
        .collect::<Vec<_>>()
        .join(",")
}

fn target(t: &Target) -> String {
    match t {
        Target::Node(i) => format!("n{}", i + 1),
        Target::Leader => "the leader".into(),
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill { target: t } => write!(f, "kill {} (daemon, watchdog, guests)", target(t)),
            Fault::PartitionHalves { sides } => {
                write!(f, "partition {} | {}", names(&sides[0]), names(&sides[1]))
            }
            Fault::PartitionOne { node } => write!(f, "partition n{} from all", node + 1),
            Fault::PartitionBridge { a, bridge, c } => write!(
                f,
                "bridge partition {} | n{} | {} (n{} sees both)",
                names(a),
                bridge + 1,
                names(c),
                bridge + 1
            ),
            Fault::Loss { from, to, percent } => write!(
                f,
                "drop {percent}% of packets n{} -> {} (one way)",
                from + 1,
                names(to)
            ),
            Fault::Pause { target: t } => write!(f, "SIGSTOP {}'s daemon", target(t)),
            Fault::Clock { node, offset_s } => {
                write!(f, "n{}'s wall clock jumps {offset_s:+} s", node + 1)
            }
            Fault::LeaderMigration {
                ha,
                to,
                delay_ms,
                power,
            } => write!(
                f,
                "{} to n{}, the leader {} {delay_ms} ms in",
                if *ha {
                    "HA migration of the HA VM"
                } else {
                    "live migration of the plain VM"
                },
                to + 1,
                if *power { "power-cut" } else { "killed" }
            ),
            Fault::RestartAll { power } => write!(
                f,
                "restart every node at once{}",
                if *power {
                    " (power loss: guests die too)"
                } else {
                    ""
                }
            ),
            Fault::DiskFull { node } => write!(f, "n{}'s state disk fills up", node + 1),
            Fault::Corrupt { node, log, damage } => write!(
                f,
                "damage n{}'s {} ({}) while it is down",
                node + 1,
                if *log { "log.redb" } else { "state.redb" },
                match damage {
                    Damage::Record => "a record's byte".to_string(),
                    Damage::Page { at_permille } => format!("a page at {at_permille}‰"),
                    Damage::Header => "its header".to_string(),
                }
            ),
        }
    }
}
