//! `brigade chaos run`: random faults against a cluster it starts on its own subnet,
//! under load, with the recorded history checked (crate brigade-chaos).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use brigade_chaos::{FaultKind, RunOptions};
use clap::{Args, Subcommand};

use crate::connect::GlobalArgs;
use crate::output::print_json;

/// The subnet (127.0.S.x) of a chaos cluster unless told otherwise: not the lab's.
pub const DEFAULT_SUBNET: u8 = 220;

#[derive(Subcommand, Debug)]
pub enum ChaosCmd {
    /// Start a cluster, load it, inject the seed's faults, check the history, report.
    Run(RunArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Nodes of the cluster (with --qdevice, 2 or more; else 3 or more).
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// How long faults are injected: 120s, 30m, 1h (or seconds).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub duration: Duration,
    /// The seed of the fault schedule (default: drawn, and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fault kinds, comma-separated: kill, partition-halves, partition-one,
    /// partition-bridge (or partition for all three), loss, pause, clock,
    /// leader-migration, restart-all, disk-full, corrupt; or all.
    #[arg(long, default_value = "all", value_parser = parse_kinds)]
    pub faults: FaultList,
    /// A quorum device votes too (as for a 4-node cluster).
    #[arg(long)]
    pub qdevice: bool,
    /// Where the cluster, its logs and the report go (default /tmp/brigade-chaos-SEED).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The third octet of the cluster's 127.0.S.x addresses (never the lab's 1).
    #[arg(long, default_value_t = DEFAULT_SUBNET)]
    pub subnet: u8,
    /// The bound on settling after the last heal (liveness).
    #[arg(long, default_value = "180s", value_parser = parse_duration)]
    pub settle: Duration,
    /// The test appliance (scripts/build-appliance).
    #[arg(long, default_value_t = crate::cmd::guest::appliance_dir())]
    pub appliance: String,
}

/// `120s`, `30m`, `2h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (like 120s, 30m or 1h)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?}: the unit must be s, m or h")),
    };
    if secs == 0 {
        return Err("the duration must be more than 0 s".into());
    }
    Ok(Duration::from_secs(secs))
}

/// The kinds `--faults` names.
#[derive(Debug, Clone)]
pub struct FaultList(pub Vec<FaultKind>);

/// `--faults` (a comma-separated list) becomes its kinds.
fn parse_kinds(s: &str) -> Result<FaultList, String> {
    FaultKind::parse_list(s)
        .map(FaultList)
        .map_err(|e| e.to_string())
}

pub async fn run(g: &GlobalArgs, cmd: ChaosCmd) -> anyhow::Result<()> {
    let ChaosCmd::Run(a) = cmd;
    let seed = a.seed.unwrap_or_else(rand::random);
    let kinds = a.faults.0;
    let dir = a
        .dir
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/brigade-chaos-{seed}")));
    let opts = RunOptions {
        nodes: a.nodes,
        qdevice: a.qdevice,
        duration: a.duration,
        seed,
        kinds,
        dir,
        subnet: a.subnet,
        bin: std::env::current_exe()?,
        appliance: PathBuf::from(a.appliance),
        settle_timeout: a.settle,
    };
    let say = |line: &str| eprintln!("{line}");
    let report = brigade_chaos::run(opts, &say).await?;
    if g.json() {
        print_json(&report)?;
    } else {
        outln!("{}", report.text());
    }
    if !report.passed {
        let failed: Vec<&str> = report
            .verdicts
            .iter()
            .filter(|v| !v.passed)
            .map(|v| v.checker.as_str())
            .collect();
        bail!(
            "chaos run of seed {seed} failed: {} (report in {}/report.txt)",
            failed.join(", "),
            report.dir
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: ChaosCmd,
    }

    #[test]
    fn fault_lists_parse() {
        use clap::Parser as _;
        let parsed =
            Cli::try_parse_from(["chaos", "run", "--faults", "kill,partition"]).expect("parses");
        let ChaosCmd::Run(a) = parsed.cmd;
        assert_eq!(a.faults.0.len(), 4);
        let ChaosCmd::Run(a) = Cli::try_parse_from(["chaos", "run"]).expect("parses").cmd;
        assert_eq!(a.faults.0, FaultKind::ALL.to_vec());
        assert!(Cli::try_parse_from(["chaos", "run", "--faults", "bogus"]).is_err());
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
