//! Fault injection against a loaded brigade cluster, with the history checked, the way
//! Jepsen tests etcd and Pacemaker's CTS tests clusters: `brigade chaos run` starts a
//! cluster of real node processes on its own loopback subnet, drives a workload from
//! several clients against different nodes while a seeded schedule of faults (kills,
//! partitions, one-way loss, pauses, clock jumps, a leader killed during a migration,
//! a restart of every node, a full disk, damaged store files) runs against it, and
//! then lets checkers judge what was recorded.
//!
//! # The checkers
//!
//! Each checker is a pure function of what the run recorded, with unit tests that give
//! it a bad history and see it fail.
//!
//! - **Linearizable registers** ([`checkers::register`]): every register key's reads,
//!   writes and compare-and-swaps (on cfs file versions) must have a linearization;
//!   Wing and Gong's search with Lowe's cache, as in Porcupine, one key at a time.
//!   Operations whose answer was lost return at infinity (they may have happened at any
//!   point after their call, or never); operations refused before they reached the
//!   state are dropped; a compare-and-swap that lost on its version is an observation.
//! - **No lost appends** ([`checkers::append`]): every acknowledged append to a list is
//!   in its final state once, in an order consistent with acknowledgements, and every
//!   read of a list is a prefix of it holding every append acknowledged before it.
//! - **Never twice** ([`checkers::never_twice`]): the guests are the witnesses. Each VM
//!   writes a record naming its boot to a disk on shared storage every 100 ms; two
//!   boots' records interleaving, or two nodes' consoles of one VM printing within half
//!   a second, means it ran twice. Container processes, sampled every 20 ms, never live
//!   on two nodes at once.
//! - **No action without quorum** ([`checkers::quorum`]): no guest process starts on a
//!   node while the faults make it certain that node could not be quorate.
//! - **Guest configs** ([`checkers::configs`]): configs created and removed end as the
//!   acknowledgements say; no VMID on two nodes.
//! - **Liveness after heal** ([`checkers::liveness`]): within a stated time after the
//!   last heal every node is quorate under one leader, every HA guest in state started
//!   runs exactly once, nothing is left locked, every node holds one tree.
//! - **No crash but the injected ones** ([`checkers::crashes`]): no panic in any log, no
//!   daemon exit the schedule did not cause.

pub mod checkers;
pub mod cluster;
pub mod error;
pub mod faults;
pub mod history;
pub mod metrics;
pub mod report;
pub mod run;
pub mod sampler;
pub mod schedule;
pub mod settle;
pub mod witness;
pub mod workload;

pub use error::ChaosError;
pub use report::Report;
pub use run::{run, RunOptions};
pub use schedule::{FaultKind, Schedule};
