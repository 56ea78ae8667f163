//! Reading and compare-and-swap writing of a job's per-guest state (`jobs/state/<job>/<vmid>.json`).

use brigade_backup::job_state::GuestJobState;
use brigade_cfs::Cfs;

use super::JOBS_STATE_DIR;
use crate::error::NodeError;
use crate::node::Node;

/// The state file of `job` for `vmid`.
pub(crate) fn state_path(job: &str, vmid: u32) -> String {
    format!("{JOBS_STATE_DIR}/{job}/{vmid}.json")
}

/// The state and its version (`None`, 0 when never written; an unreadable file counts as
/// never written, so the next write replaces it).
pub(crate) fn read_state(
    cfs: &Cfs,
    job: &str,
    vmid: u32,
) -> Result<(Option<GuestJobState>, u64), NodeError> {
    let (text, version) = crate::ha::config_io::read(cfs, &state_path(job, vmid))?;
    Ok((serde_json::from_str(&text).ok(), version))
}

/// Every guest's state of `job`, by VMID.
pub(crate) fn job_states(cfs: &Cfs, job: &str) -> Vec<(u32, GuestJobState)> {
    let Ok(dir) = crate::node::cfs_path(&format!("{JOBS_STATE_DIR}/{job}")) else {
        return Vec::new();
    };
    let Ok(entries) = cfs.list(&dir) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|e| e.name.strip_suffix(".json")?.parse::<u32>().ok())
        .filter_map(|vmid| Some((vmid, read_state(cfs, job, vmid).ok()?.0?)))
        .collect()
}

impl Node {
    /// Writes `state` if the file is still at `version`; false when another write came first.
    pub(crate) async fn write_job_state(
        &self,
        job: &str,
        vmid: u32,
        state: &GuestJobState,
        version: u64,
    ) -> Result<bool, NodeError> {
        let rt = self.require_cluster()?;
        let data = serde_json::to_string(state).map_err(NodeError::internal)?;
        let op = crate::ha::rules_io::write_op(&state_path(job, vmid), data, version)?;
        match rt.cfs.propose(op).await {
            Ok(_) => Ok(true),
            Err(
                brigade_cfs::CfsError::VersionMismatch { .. }
                | brigade_cfs::CfsError::Exists { .. },
            ) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
