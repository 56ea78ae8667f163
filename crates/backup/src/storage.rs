//! The datastore of a `storage.cfg` `dir` storage with `content backup`, on a given node.

use std::path::Path;

use brigade_guest::Storage;

use crate::datastore::Datastore;
use crate::error::{BackupError, Result};

/// The content type that makes a storage hold backups.
pub const BACKUP_CONTENT: &str = "backup";

/// Opens the backup datastore of `storage` on `node` (its path with `{node}` and
/// `{state_dir}` expanded); refuses a storage without `content backup` or not on `node`.
pub fn open_storage(storage: &Storage, node: &str, state_dir: &Path) -> Result<Datastore> {
    if !storage.content.iter().any(|c| c == BACKUP_CONTENT) {
        return Err(BackupError::Invalid(format!(
            "storage {} does not hold backups (add `content backup`)",
            storage.id
        )));
    }
    if !storage.available_on(node) {
        return Err(BackupError::Invalid(format!(
            "storage {} is not available on node {node}",
            storage.id
        )));
    }
    Datastore::open(&storage.root(node, state_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_backup_storages_open() {
        let d = tempfile::tempdir().expect("tempdir");
        let cfg = brigade_guest::StorageConfig::parse(&format!(
            "dir: backups\n\tpath {}/{{node}}\n\tcontent backup\n\ndir: local\n\tpath {0}/images\n\tcontent images\n",
            d.path().display()
        ))
        .expect("storage.cfg");
        let ds = open_storage(cfg.get("backups").expect("b"), "n1", d.path()).expect("opens");
        assert_eq!(ds.base(), d.path().join("n1"));
        let e =
            open_storage(cfg.get("local").expect("l"), "n1", d.path()).expect_err("images only");
        assert!(e.to_string().contains("content backup"), "{e}");
    }
}
