//! The cluster end-to-end tests, one module per subject, in one test binary (each
//! file used to link the whole stack on its own). Each module claims its own
//! 127.0.S.x subnets (checked by a unit test of the crate); run one with
//! `cargo nextest run -p brigade-e2e -E 'test(/^ha::/)'`.

// Tests: a failed expectation is a failed test, with its message.
#![allow(clippy::expect_used)]

mod access;
mod access_admin;
mod acked_write_kill;
mod backup;
mod backup_ct;
mod backup_jobs;
mod backup_migrate;
mod bad_input;
mod chaos;
mod cli;
mod corrupt_store;
mod ct;
mod disk_full;
mod guest_refusals;
mod ha;
mod ha_network;
mod ha_rules;
mod ha_safety;
mod lab;
mod leader_failover;
mod management;
mod membership;
mod migration_network;
mod migration_safety;
mod migration_stream;
mod mount;
mod partition;
mod prevote;
mod protection;
mod qdevice;
mod readme_guests;
mod recover;
mod replication;
mod restart;
mod restart_conflicting_tail;
mod restarted_leader_reads;
mod scale;
mod sdn;
mod sdn_ct;
mod snapshot_join;
mod state_size;
mod tasks;
mod upgrade;
mod vm;
mod watchdog_device;
mod webui;
