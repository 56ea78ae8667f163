//! Where the cluster's active format is kept: in the replicated tree, and on each node a
//! record of the last one it saw, checked at start before anything is served or voted.

use brigade_cfs::{Cfs, CfsError};

use super::{check_start, release, supported, UNANNOUNCED_FORMAT};
use crate::error::NodeError;
use crate::node::{cfs_path, Node};
use crate::state_dir::StateDir;

/// The cluster's active format version in the replicated tree (absent: format 1, the
/// format of every cluster made before format versions were agreed).
pub const ACTIVE_FORMAT_TREE_PATH: &str = "priv/cluster-format";

/// The node's record (in its state directory) of the active format it last saw.
pub const ACTIVE_FORMAT_RECORD: &str = "cluster-format";

/// The active format as the tree has it, and the file's version (0: absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Active {
    pub format: u32,
    pub file_version: u64,
}

/// The text of the active format file: one version number.
pub(crate) fn parse_active(data: &[u8]) -> Result<u32, NodeError> {
    let text = String::from_utf8_lossy(data);
    text.trim().parse::<u32>().map_err(|_| {
        NodeError::Invalid(format!(
            "{ACTIVE_FORMAT_TREE_PATH} holds {:?}, not a format version",
            text.trim()
        ))
    })
}

/// The active format in this node's replica.
pub(crate) fn read_active(cfs: &Cfs) -> Result<Active, NodeError> {
    match cfs.read(&cfs_path(ACTIVE_FORMAT_TREE_PATH)?) {
        Ok(f) => Ok(Active {
            format: parse_active(&f.data)?,
            file_version: f.version,
        }),
        Err(CfsError::NotFound { .. }) => Ok(Active {
            format: UNANNOUNCED_FORMAT,
            file_version: 0,
        }),
        Err(e) => Err(e.into()),
    }
}

/// The active format a node with this state directory last saw (format 1 when it never
/// recorded one: it ran a build from before agreed formats, which speaks only format 1).
pub(crate) fn recorded_active(state: &StateDir) -> Result<u32, NodeError> {
    match std::fs::read(state.path(ACTIVE_FORMAT_RECORD)) {
        Ok(data) => parse_active(&data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UNANNOUNCED_FORMAT),
        Err(e) => Err(NodeError::internal(e)),
    }
}

/// Refuses to start a member (`state` holds a membership) whose formats do not include
/// the active one it last saw; runs before anything else is opened or written.
pub(crate) fn check_format_at_start(state: &StateDir, node: &str) -> Result<(), NodeError> {
    if state.membership().map_err(NodeError::internal)?.is_none() {
        return Ok(());
    }
    check_start(node, &release(), supported(), recorded_active(state)?)
        .map_err(|e| NodeError::Conflict(e.to_string()))
}

impl Node {
    /// The active format this node last saw.
    pub(crate) fn recorded_active_format(&self) -> Result<u32, NodeError> {
        recorded_active(&self.state)
    }

    /// Records the active format seen in the tree (only when it changed).
    pub(crate) fn record_active_format(&self, format: u32) -> Result<(), NodeError> {
        if self.recorded_active_format().ok() == Some(format) {
            return Ok(());
        }
        crate::state_dir::write_atomic(
            &self.state.path(ACTIVE_FORMAT_RECORD),
            format!("{format}\n").as_bytes(),
            0o644,
        )
        .map_err(NodeError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_defaults_to_format_1_and_refuses_a_start_outside_the_range() {
        let dir =
            std::env::temp_dir().join(format!("brigade-format-record-{}", std::process::id()));
        let state = StateDir::open(&dir).expect("state dir");
        assert_eq!(recorded_active(&state).expect("absent"), UNANNOUNCED_FORMAT);
        // Not a member yet: nothing to check.
        std::fs::write(state.path(ACTIVE_FORMAT_RECORD), "7\n").expect("write");
        assert!(check_format_at_start(&state, "n1").is_ok());
        assert_eq!(recorded_active(&state).expect("recorded"), 7);
        std::fs::write(state.path(ACTIVE_FORMAT_RECORD), "seven").expect("write");
        assert!(recorded_active(&state).is_err());
        assert_eq!(parse_active(b" 2\n").expect("parsed"), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
