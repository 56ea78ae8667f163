//! The configuration tree's version history: list a file's versions, restore one.

use brigade_api::fs_history::{FsHistory, FsRestoreRequest, Restored};

use crate::{Client, ClientError};

impl Client {
    /// The versions of the file at `path`, newest first (`GET /fs/history`).
    pub async fn fs_history(&self, path: &str) -> Result<FsHistory, ClientError> {
        self.get("/fs/history", &[("path", path)]).await
    }

    /// Writes `version` of the file at `path` back as its new content (`POST /fs/restore`).
    pub async fn fs_restore(&self, path: &str, version: u64) -> Result<Restored, ClientError> {
        let req = FsRestoreRequest {
            path: path.to_string(),
            version,
        };
        self.post("/fs/restore", &req).await
    }
}
