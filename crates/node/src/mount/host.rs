//! What the mounted tree needs from the daemon serving it: its name, the members view
//! behind `.members`, and the checks every write from outside the daemon passes.

use brigade_api::cluster::ClusterStatus;
use brigade_core::CfsPath;

use crate::error::NodeError;
use crate::node::Node;

/// The mount's view of its node; the daemon's [`Node`] is one, a unit test another.
pub trait MountHost: Send + Sync + 'static {
    /// The node whose `qemu-server` and `lxc` links the mount shows.
    fn node_name(&self) -> &str;
    /// The membership view `.members` prints.
    fn members(&self) -> ClusterStatus;
    /// Refuses an invalid content of a file whose format brigade owns.
    fn validate_write(&self, path: &CfsPath, data: &[u8]) -> Result<(), NodeError>;
    /// Refuses a move that would land a file where its content is not valid.
    fn validate_rename(&self, from: &CfsPath, to: &CfsPath) -> Result<(), NodeError>;
    /// Refuses removing a protected guest's config or the format record.
    fn validate_delete(&self, path: &CfsPath) -> Result<(), NodeError>;
}

impl MountHost for Node {
    fn node_name(&self) -> &str {
        self.config.name.as_str()
    }

    fn members(&self) -> ClusterStatus {
        self.status()
    }

    fn validate_write(&self, path: &CfsPath, data: &[u8]) -> Result<(), NodeError> {
        Node::validate_write(self, path, data)
    }

    fn validate_rename(&self, from: &CfsPath, to: &CfsPath) -> Result<(), NodeError> {
        Node::validate_rename(self, from, to)
    }

    fn validate_delete(&self, path: &CfsPath) -> Result<(), NodeError> {
        Node::validate_delete(self, path)
    }
}
