//! Cluster lifecycle: create, join tokens, join, delnode, node list and status.
//! This file holds what every part shares (timeouts, cluster.conf access); each
//! side of the lifecycle has a file of its own.

mod admin;
mod admission;
mod create;
mod grant;
mod join;
mod status;

pub use status::{quorum_warnings, warnings};

use std::time::Duration;

use brigade_cfs::{Cfs, Op};
use brigade_core::cluster_conf::{ClusterConf, NodeEntry};
use brigade_core::layout;

use crate::error::NodeError;
use crate::node::{cfs_path, Node};

/// How long a joining node waits to be replicated to and quorate.
pub const JOIN_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a joining node checks whether it votes yet.
const JOIN_SETTLE_POLL: Duration = Duration::from_millis(50);
/// Timeout of the join application sent to a member.
pub const JOIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A new random cluster key for heartbeat HMACs (hex).
fn new_authkey() -> Vec<u8> {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    hex::encode(key).into_bytes()
}

fn write_op(
    path: &str,
    data: impl Into<Vec<u8>>,
    expect_version: Option<u64>,
) -> Result<Op, NodeError> {
    Ok(Op::Write {
        path: cfs_path(path)?,
        data: data.into(),
        expect_version,
        create_exclusive: false,
    })
}

fn read_text(cfs: &Cfs, path: &str) -> Result<(String, u64), NodeError> {
    let f = cfs.read(&cfs_path(path)?)?;
    let text =
        String::from_utf8(f.data).map_err(NodeError::failed(format!("{path} is not UTF-8")))?;
    Ok((text, f.version))
}

/// Reads and parses cluster.conf from the local replica.
pub fn read_cluster_conf(cfs: &Cfs) -> Result<ClusterConf, NodeError> {
    let (text, _) = read_text(cfs, layout::CLUSTER_CONF)?;
    ClusterConf::parse(&text).map_err(NodeError::failed("cluster.conf"))
}

fn read_cluster_conf_versioned(cfs: &Cfs) -> Result<(ClusterConf, u64), NodeError> {
    let (text, version) = read_text(cfs, layout::CLUSTER_CONF)?;
    let conf = ClusterConf::parse(&text).map_err(NodeError::failed("cluster.conf"))?;
    Ok((conf, version))
}

impl Node {
    pub(super) fn node_entry(&self, nodeid: u64) -> NodeEntry {
        NodeEntry {
            name: self.config.name.clone(),
            nodeid,
            votes: 1,
            link0: self.config.address,
            link1: self.config.link1,
        }
    }
}
