//! `brigade bench ...`: benchmarks printing brigade's figure next to a peer's from the same run.

pub mod cfs;

use clap::Subcommand;

use crate::connect::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// cfs write throughput and latency against a 3-member etcd, both on loopback.
    Cfs(cfs::CfsBenchArgs),
}

pub async fn run(_g: &GlobalArgs, cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Cfs(args) => cfs::run(args).await,
    }
}
