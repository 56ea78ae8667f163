//! `brigade`: the cluster manager's one binary (daemon, CLI, benchmarks).

// First: its `out!`/`outln!` macros serve every module below.
#[macro_use]
mod output;
mod bench;
mod cmd;
mod connect;
mod lab;
mod malloc_arenas;

use clap::{Parser, Subcommand};

use crate::connect::GlobalArgs;

/// brigade: a cluster manager for virtual machines (like Proxmox VE's cluster stack).
///
/// A few Linux machines become one cluster with a replicated configuration
/// (cfs), membership and quorum, QEMU guests and containers that migrate between
/// nodes, and HA guests restarted on a survivor when their node dies (never twice).
/// Run `brigade node run` on each machine, then
/// `brigade cluster create NAME` on the first and `brigade cluster join` on
/// the others. Every command talks to a node's HTTPS API (port 8006).
#[derive(Parser, Debug)]
#[command(name = "brigade", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run and manage the node daemon.
    #[command(subcommand)]
    Node(cmd::node::NodeCmd),
    /// Create, join and inspect the cluster (like `pvecm`).
    #[command(subcommand)]
    Cluster(cmd::cluster::ClusterCmd),
    /// The cluster log: joins, deaths, quorum and leader changes, clock alarms.
    Log(cmd::log::LogArgs),
    /// Log in with a user's password (and TOTP code): later commands use the ticket; `logout` forgets it.
    Login(cmd::login::LoginArgs),
    /// Forget the ticket `brigade login` stored for the node.
    Logout,
    /// Run a quorum device (tie-breaker vote) on a third machine.
    #[command(subcommand)]
    Qdevice(cmd::qdevice::QdeviceDaemonCmd),
    /// Virtual machines (like `qm`): create, start, stop, list, migrate --online, console.
    #[command(subcommand)]
    Vm(cmd::guest::GuestCmd),
    /// Containers (like `pct`): namespaces + chroot, migrated offline.
    #[command(subcommand)]
    Ct(cmd::guest::GuestCmd),
    /// High availability (like `ha-manager`): add, set, status, migrate, groups, simulate.
    #[command(subcommand)]
    Ha(cmd::ha::HaCmd),
    /// Guest networks (like Proxmox SDN): zones, vnets, subnets; apply; status per node.
    #[command(subcommand)]
    Sdn(cmd::sdn::SdnCmd),
    /// A node's bridges: network.cfg and the vnets applied there.
    #[command(subcommand)]
    Network(cmd::network::NetworkCmd),
    /// Storages (like `pvesm`): list, add, remove, status with free space.
    #[command(subcommand)]
    Storage(cmd::storage::StorageCmd),
    /// Backups to a backup storage (like `vzdump`, `qmrestore`): run, list, restore, verify, prune, job.
    #[command(subcommand)]
    Backup(cmd::backup::BackupCmd),
    /// Users, passwords and second factors (like `pveum user`).
    #[command(subcommand)]
    User(cmd::user::UserCmd),
    /// Groups of users (like `pveum group`).
    #[command(subcommand)]
    Group(cmd::group::GroupCmd),
    /// Roles: named sets of privileges (like `pveum role`).
    #[command(subcommand)]
    Role(cmd::role::RoleCmd),
    /// Who holds which role on which path (like `pveum acl`).
    #[command(subcommand)]
    Acl(cmd::acl::AclCmd),
    /// API tokens of users (like `pveum user token`).
    #[command(subcommand)]
    Token(cmd::token::TokenCmd),
    /// Resource pools of guests and storages (like `pveum pool`).
    #[command(subcommand)]
    Pool(cmd::pool::PoolCmd),
    /// Tasks (Proxmox's UPIDs): list, log --follow, status, stop the nodes' long operations.
    #[command(subcommand)]
    Task(cmd::task::TaskCmd),
    /// Read and write the replicated configuration tree (like /etc/pve).
    #[command(subcommand)]
    Fs(cmd::fs::FsCmd),
    /// A whole demo cluster on this machine (127.0.1.1..N): up, status, kill, partition, heal, down.
    #[command(subcommand)]
    Lab(lab::LabCmd),
    /// Benchmarks that print brigade's figures next to a peer's.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Random faults against a loaded cluster it starts, with the history checked.
    #[command(subcommand)]
    Chaos(cmd::chaos::ChaosCmd),
    /// Shell completions: `brigade completions bash > /etc/bash_completion.d/brigade` (zsh, fish).
    Completions(cmd::completions::CompletionsArgs),
    /// Man pages generated from these definitions (the package build runs it).
    #[command(hide = true)]
    Man(cmd::completions::ManArgs),
}

/// Async worker threads of a node or qdevice daemon: an idle daemon needs few, and every
/// worker costs a stack and, with glibc, its own malloc arena (RSS) on a many-core host.
/// Blocking work (disk, QEMU monitor) runs on tokio's blocking pool, not on these.
const DAEMON_WORKER_THREADS: usize = 2;

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BRIGADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn main() {
    let cli = Cli::parse();
    // The watchdog helper runs without the async runtime, so that it can first close
    // every descriptor it inherited (it outlives whatever started it).
    if let Command::Node(node) = &cli.command {
        if let Some(result) = cmd::node::watchdog_main(node) {
            if let Err(e) = result {
                eprintln!("error: {e:#}");
                std::process::exit(1);
            }
            return;
        }
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if matches!(cli.command, Command::Node(_) | Command::Qdevice(_)) {
        malloc_arenas::reexec_with_few_arenas();
        builder.worker_threads(DAEMON_WORKER_THREADS);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Node(c) => {
                init_logging();
                cmd::node::run(&cli.global, c).await
            }
            Command::Qdevice(c) => {
                init_logging();
                cmd::qdevice::run_daemon(c).await
            }
            Command::Cluster(c) => cmd::cluster::run(&cli.global, c).await,
            Command::Fs(c) => cmd::fs::run(&cli.global, c).await,
            Command::Vm(c) => {
                cmd::guest::run(&cli.global, brigade_core::layout::GuestKind::Qemu, c).await
            }
            Command::Ct(c) => {
                cmd::guest::run(&cli.global, brigade_core::layout::GuestKind::Lxc, c).await
            }
            Command::Storage(c) => cmd::storage::run(&cli.global, c).await,
            Command::Sdn(c) => cmd::sdn::run(&cli.global, c).await,
            Command::Network(c) => cmd::network::run(&cli.global, c).await,
            Command::Backup(c) => cmd::backup::run(&cli.global, c).await,
            Command::User(c) => cmd::user::run(&cli.global, c).await,
            Command::Group(c) => cmd::group::run(&cli.global, c).await,
            Command::Role(c) => cmd::role::run(&cli.global, c).await,
            Command::Acl(c) => cmd::acl::run(&cli.global, c).await,
            Command::Token(c) => cmd::token::run(&cli.global, c).await,
            Command::Pool(c) => cmd::pool::run(&cli.global, c).await,
            Command::Ha(c) => cmd::ha::run(&cli.global, c).await,
            Command::Log(a) => cmd::log::run(&cli.global, a).await,
            Command::Login(a) => cmd::login::login(&cli.global, a).await,
            Command::Logout => cmd::login::logout(&cli.global),
            Command::Task(c) => cmd::task::run(&cli.global, c).await,
            Command::Lab(c) => lab::run(&cli.global, c).await,
            Command::Bench(c) => bench::run(&cli.global, c).await,
            Command::Chaos(c) => {
                init_logging();
                cmd::chaos::run(&cli.global, c).await
            }
            Command::Completions(a) => {
                cmd::completions::completions(<Cli as clap::CommandFactory>::command(), &a);
                Ok(())
            }
            Command::Man(a) => {
                let json = cli.global.json();
                cmd::completions::man(<Cli as clap::CommandFactory>::command(), &a, json)
            }
        }
    });
    if let Err(e) = result {
        // `brigade ... | head`: the reader is gone; nothing is left to say.
        if output::is_broken_pipe(&e) {
            std::process::exit(0);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    /// Arguments of `cmd`'s subcommands (recursively) that are not global but have the
    /// id of one of `globals`, with their subcommand path.
    fn shadowing(cmd: &clap::Command, globals: &[String], path: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands() {
            let here = format!("{path} {}", sub.get_name());
            for a in sub.get_arguments() {
                if !a.is_global_set() && globals.iter().any(|g| g == a.get_id().as_str()) {
                    out.push(format!("{here}: {}", a.get_id()));
                }
            }
            shadowing(sub, globals, &here, out);
        }
    }

    #[test]
    fn no_subcommand_argument_shadows_a_global_option() {
        // A positional `node` once took the id of the global `--node URL`: the node's
        // name became the API address and `--node` was refused after the subcommand.
        let cli = Cli::command();
        let globals: Vec<String> = cli
            .get_arguments()
            .filter(|a| a.is_global_set())
            .map(|a| a.get_id().to_string())
            .collect();
        assert!(globals.iter().any(|g| g == "node"), "{globals:?}");
        let mut clashes = Vec::new();
        shadowing(&cli, &globals, "brigade", &mut clashes);
        assert!(
            clashes.is_empty(),
            "arguments shadowing globals: {clashes:?}"
        );
    }

    #[test]
    fn the_global_node_option_reaches_every_subcommand() {
        for args in [
            &[
                "brigade", "ha", "migrate", "vm:100", "n1", "--node", "10.0.0.9",
            ][..],
            &[
                "brigade", "--node", "10.0.0.9", "ha", "migrate", "vm:100", "n1",
            ],
            &[
                "brigade",
                "node",
                "maintenance",
                "enable",
                "n3",
                "--node",
                "10.0.0.9",
            ],
            &["brigade", "lab", "kill", "n1", "--node", "10.0.0.9"],
            &[
                "brigade", "vm", "migrate", "100", "n2", "--node", "10.0.0.9",
            ],
        ] {
            let cli = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(cli.global.node.as_deref(), Some("10.0.0.9"), "{args:?}");
            match cli.command {
                Command::Ha(cmd::ha::HaCmd::Migrate { target, .. }) => assert_eq!(target, "n1"),
                Command::Node(cmd::node::NodeCmd::Maintenance { target, .. }) => {
                    assert_eq!(target, "n3");
                }
                _ => {}
            }
        }
    }

    #[test]
    fn console_tail_has_a_default() {
        let tail = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Vm(cmd::guest::GuestCmd::Console { tail, .. })) => tail,
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(
            tail(&["brigade", "vm", "console", "100", "--tail"]),
            Some(1024)
        );
        assert_eq!(
            tail(&["brigade", "vm", "console", "100", "--tail", "10"]),
            Some(10)
        );
        assert_eq!(tail(&["brigade", "vm", "console", "100"]), None);
    }
}
