//! Writes and renames that reach the tree from outside the daemon (the API's `fs`
//! calls, the FUSE mount, guest create and set) are checked by [`crate::validate`]
//! with what this node knows: its storages, its state and appliance directories; a guest
//! config's NICs by the cluster-wide checks of `guests::nics` (bridges, tags, MTU, MACs).

use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout;
use brigade_core::CfsPath;
use brigade_guest::{protection, StorageConfig};

use crate::error::NodeError;
use crate::node::{cfs_path, Node};
use crate::validate::{self, HostPathPolicy};

impl Node {
    /// Where guests' host paths may point, from this node's view of storage.cfg (a
    /// missing or broken storage.cfg allows only the appliance directory).
    pub fn host_path_policy(&self) -> HostPathPolicy {
        let storage = self
            .cluster()
            .and_then(|rt| {
                let p = cfs_path(layout::STORAGE_CFG).ok()?;
                let f = rt.cfs.read(&p).ok()?;
                StorageConfig::parse(&String::from_utf8_lossy(&f.data)).ok()
            })
            .unwrap_or_default();
        HostPathPolicy {
            node: self.config.name.to_string(),
            state_dir: self.config.state_dir(),
            appliance_dir: self.config.appliance_dir(),
            storage,
        }
    }

    /// Refuses `data` as the new content of `path` if brigade owns its format and it is
    /// invalid; a guest config's NICs get the checks of guest create and set too.
    pub fn validate_write(&self, path: &CfsPath, data: &[u8]) -> Result<(), NodeError> {
        validate::validate_file(path.as_str(), data, &self.host_path_policy())?;
        self.check_written_nics(path.as_str(), data)
    }

    /// The NIC checks of [`Node::check_guest_nics`] for a guest config written as a file
    /// (nothing is filled in: a NIC without a MAC gets its start MAC as before).
    fn check_written_nics(&self, path: &str, data: &[u8]) -> Result<(), NodeError> {
        let Some(g) = layout::parse_guest_config_path(path) else {
            return Ok(());
        };
        // validate_file has parsed it already.
        let text = String::from_utf8_lossy(data);
        let kv = KeyValueConfig::parse(&text).map_err(NodeError::from)?;
        self.check_guest_nics(&g.node, g.vmid, &kv)
    }

    /// Refuses moving `from` to `to` if a file would land where brigade owns the format
    /// and its content is not valid there (every file, when `from` is a directory).
    pub fn validate_rename(&self, from: &CfsPath, to: &CfsPath) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        let policy = self.host_path_policy();
        for (path, (_, data)) in rt.cfs.dump(from) {
            refuse_format_record(&path, "move")?;
            let rest = path.strip_prefix(from.as_str()).unwrap_or_default();
            let target = format!("{}{rest}", to.as_str());
            // A protected guest may move to another node (a migration), not away.
            if let Some(g) = protected_guest(&path, &data) {
                let same = layout::parse_guest_config_path(&target)
                    .is_some_and(|t| t.kind == g.kind && t.vmid == g.vmid);
                if !same {
                    return Err(refuse_removal(&g, &path));
                }
            }
            validate::validate_file(&target, &data, &policy)
                .and_then(|()| self.check_written_nics(&target, &data))
                .map_err(|e| {
                    if rest.is_empty() {
                        e
                    } else {
                        NodeError::Invalid(format!("{target}: {e}"))
                    }
                })?;
        }
        Ok(())
    }

    /// Refuses deleting `path` when it is, or holds, the config of a guest with
    /// `protection: 1` (destroying a guest by removing its config), or the cluster's
    /// active format record.
    pub fn validate_delete(&self, path: &CfsPath) -> Result<(), NodeError> {
        let rt = self.require_cluster()?;
        for (p, (_, data)) in rt.cfs.dump(path) {
            refuse_format_record(&p, "remove")?;
            if let Some(g) = protected_guest(&p, &data) {
                return Err(refuse_removal(&g, &p));
            }
        }
        Ok(())
    }
}

/// Refuses removing or moving away the active format record: without it every member
/// would read format 1 again, which a raised cluster's members may no longer speak.
fn refuse_format_record(path: &str, what: &str) -> Result<(), NodeError> {
    if path == crate::format_version::ACTIVE_FORMAT_TREE_PATH {
        return Err(NodeError::Invalid(format!(
            "cannot {what} {path}: it records the format version the cluster runs, and without it every member would fall back to format 1; it is changed only by 'brigade cluster format upgrade'"
        )));
    }
    Ok(())
}

/// The guest whose config `path` is, when `data` sets `protection: 1`.
fn protected_guest(path: &str, data: &[u8]) -> Option<layout::GuestConfigPath> {
    let g = layout::parse_guest_config_path(path)?;
    let kv = KeyValueConfig::parse(std::str::from_utf8(data).ok()?).ok()?;
    protection::is_protected(&kv).then_some(g)
}

fn refuse_removal(g: &layout::GuestConfigPath, path: &str) -> NodeError {
    protection::refusal(g.kind, g.vmid, &format!("remove its config {path}")).into()
}
