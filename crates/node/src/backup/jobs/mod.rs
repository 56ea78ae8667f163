//! Scheduled backup jobs (`jobs.cfg`, Proxmox's `/cluster/backup`): the runner every node
//! starts, the per-guest state it coordinates through in cfs, and the API's add/list/show/set/remove.
//!
//! Each node checks the enabled jobs every [`JOB_CHECK_INTERVAL`] while quorate, and backs up
//! the guests whose configs it holds; a scheduled point is claimed by compare-and-swap of the
//! guest's state file `jobs/state/<job>/<vmid>.json` before it runs (brigade_backup::job_state),
//! so it runs once cluster-wide, and a dead node's claim is taken over after [`CLAIM_STALE`].

mod ops;
mod runner;
mod state_io;

use std::time::Duration;

use brigade_backup::BackupJob;
use brigade_cfs::Cfs;

use crate::error::NodeError;

/// The jobs file in the replicated tree (Proxmox's name).
pub const JOBS_CFG: &str = "jobs.cfg";
/// Where each job's per-guest state lives.
pub const JOBS_STATE_DIR: &str = "jobs/state";
/// How often each node checks the jobs.
pub const JOB_CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// How late a point may still run without `repeat-missed` (a few checks, a slow tree).
pub const JOB_SLACK: Duration = Duration::from_secs(60);
/// How long a claim holds without renewal before the guest's node takes it over.
pub const CLAIM_STALE: Duration = Duration::from_secs(90);
/// How often a running job renews its claim.
pub const CLAIM_RENEW_INTERVAL: Duration = Duration::from_secs(10);

/// The jobs of `jobs.cfg` and the file's text and version (0: no file).
pub(crate) fn read_jobs(cfs: &Cfs) -> Result<(Vec<BackupJob>, String, u64), NodeError> {
    let (text, version) = crate::ha::config_io::read(cfs, JOBS_CFG)?;
    let jobs =
        brigade_backup::jobs_cfg::parse(&text).map_err(|e| NodeError::Invalid(e.to_string()))?;
    Ok((jobs, text, version))
}

/// `std` duration as chrono's, for the pure scheduling code.
fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
