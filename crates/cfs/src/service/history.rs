//! Reads of the tree's version history from the local replica.

use brigade_api::fs_history::{FsHistory, FsVersion};
use brigade_core::CfsPath;

use crate::error::CfsError;

use super::Cfs;

impl Cfs {
    /// The versions of the file at `path`, newest first: its current content (if it
    /// exists) and the previous ones kept. A path that never had a file, or whose
    /// history is gone, is not found; a directory has no versions.
    pub fn history(&self, path: &CfsPath) -> Result<FsHistory, CfsError> {
        let st = self.shared.read();
        let current = match st.tree.get(path) {
            Some(e) if e.dir => {
                return Err(CfsError::IsADirectory {
                    path: path.to_string(),
                })
            }
            other => other,
        };
        let mut versions = Vec::new();
        if let Some(e) = current {
            versions.push(FsVersion {
                index: 0,
                version: e.version,
                mtime: e.mtime,
                size: e.data.len() as u64,
                current: true,
                deleted: false,
                replaced_version: None,
                replaced_mtime: None,
            });
        }
        for old in st.tree.history().versions(path.as_str()).rev() {
            versions.push(FsVersion {
                index: versions.len() as u32,
                version: old.version,
                mtime: old.mtime,
                size: old.data.len() as u64,
                current: false,
                deleted: old.deleted,
                replaced_version: Some(old.replaced_version),
                replaced_mtime: Some(old.replaced_mtime),
            });
        }
        if versions.is_empty() || path.is_root() {
            return Err(CfsError::NotFound {
                path: path.to_string(),
            });
        }
        Ok(FsHistory {
            path: path.to_string(),
            exists: current.is_some(),
            versions,
        })
    }

    /// The content of the file at `path` as of its `version` (current or kept),
    /// with the file's current version (0 when it does not exist now).
    pub fn version_content(&self, path: &CfsPath, version: u64) -> Option<(Vec<u8>, u64)> {
        let st = self.shared.read();
        let now = st.tree.get(path).filter(|e| !e.dir);
        let current = now.map_or(0, |e| e.version);
        if let Some(e) = now.filter(|e| e.version == version) {
            return Some((e.data.clone(), current));
        }
        let old = st.tree.history().get(path.as_str(), version)?;
        Some((old.data.clone(), current))
    }
}
