//! Configuration tree calls (`/fs/...`): read, list, write, lock and the change stream.

use brigade_api::cfs::{Applied, Change, DirEntryInfo};
use brigade_api::fs::*;

use crate::byte_stream::ByteStream;
use crate::{Client, ClientError};

impl Client {
    pub async fn fs_read(&self, path: &str, consistent: bool) -> Result<FsFile, ClientError> {
        let c = if consistent { "true" } else { "false" };
        self.get("/fs/read", &[("path", path), ("consistent", c)])
            .await
    }

    pub async fn fs_list(&self, path: &str) -> Result<Vec<DirEntryInfo>, ClientError> {
        self.get("/fs/list", &[("path", path)]).await
    }

    pub async fn fs_write(&self, req: &WriteRequest) -> Result<Applied, ClientError> {
        self.post("/fs/write", req).await
    }

    /// Writes text content (no compare-and-swap).
    pub async fn fs_put(&self, path: &str, content: &str) -> Result<Applied, ClientError> {
        self.fs_write(&WriteRequest {
            path: path.into(),
            content: Some(content.into()),
            data: None,
            expect_version: None,
            create_exclusive: false,
        })
        .await
    }

    pub async fn fs_mkdir(&self, path: &str, parents: bool) -> Result<Applied, ClientError> {
        self.post(
            "/fs/mkdir",
            &MkdirRequest {
                path: path.into(),
                parents,
            },
        )
        .await
    }

    pub async fn fs_delete(&self, path: &str, recursive: bool) -> Result<Applied, ClientError> {
        let req = DeleteRequest {
            path: path.into(),
            recursive,
            expect_version: None,
        };
        self.post("/fs/delete", &req).await
    }

    pub async fn fs_rename(&self, from: &str, to: &str) -> Result<Applied, ClientError> {
        self.post(
            "/fs/rename",
            &RenameRequest {
                from: from.into(),
                to: to.into(),
            },
        )
        .await
    }

    pub async fn fs_lock(
        &self,
        path: &str,
        owner: &str,
        lease_ms: Option<u64>,
    ) -> Result<Applied, ClientError> {
        let req = LockRequest {
            path: path.into(),
            owner: owner.into(),
            lease_ms,
        };
        self.post("/fs/lock", &req).await
    }

    pub async fn fs_unlock(&self, path: &str, owner: &str) -> Result<Applied, ClientError> {
        let req = LockRequest {
            path: path.into(),
            owner: owner.into(),
            lease_ms: None,
        };
        self.post("/fs/unlock", &req).await
    }

    /// Watches changes at or below `path`; returns once the watch is established.
    pub async fn fs_watch(&self, path: &str) -> Result<Watch, ClientError> {
        let req = self
            .request(reqwest::Method::GET, "/fs/watch")
            .query(&[("path", path)]);
        let mut watch = Watch {
            body: self.open_stream(req).await?,
        };
        // The first line confirms the watch is registered on the node.
        watch.next_line().await.transpose()?;
        Ok(watch)
    }
}

/// A stream of changes from `fs watch`.
pub struct Watch {
    body: ByteStream,
}

impl Watch {
    async fn next_line(&mut self) -> Option<Result<Vec<u8>, ClientError>> {
        self.body.next_until(b"\n").await
    }

    /// The next change; `None` when the node closed the stream.
    pub async fn next(&mut self) -> Option<Result<Change, ClientError>> {
        loop {
            match self.next_line().await? {
                Ok(line) => {
                    // A line that is not a change (a keep-alive) is skipped.
                    if let Ok(c) = serde_json::from_slice::<Change>(&line) {
                        return Some(Ok(c));
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
