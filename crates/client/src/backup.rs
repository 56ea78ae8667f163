//! Backup calls: vzdump, the backup content of a storage, qmrestore, verify, prune.

use brigade_api::backup::{
    BackupContent, PruneRequest, PruneResult, RestoreRequest, VerifyRequest, VerifyResult,
    VzdumpRequest,
};
use brigade_api::tasks::TaskStarted;

use crate::{Client, ClientError, GUEST_TIMEOUT};

impl Client {
    /// Starts backing up a guest (on the node that runs it; `node` only receives the call).
    pub async fn backup_run(
        &self,
        node: &str,
        req: &VzdumpRequest,
    ) -> Result<TaskStarted, ClientError> {
        self.post(&format!("/nodes/{node}/vzdump"), req).await
    }

    /// The backups on `storage` as `node` sees it (one guest's when `vmid` is given).
    pub async fn backup_list(
        &self,
        node: &str,
        storage: &str,
        vmid: Option<u32>,
    ) -> Result<Vec<BackupContent>, ClientError> {
        let vmid = vmid.map(|v| v.to_string());
        let mut q = vec![("content", "backup")];
        if let Some(v) = &vmid {
            q.push(("vmid", v.as_str()));
        }
        self.get(&format!("/nodes/{node}/storage/{storage}/content"), &q)
            .await
    }

    /// Starts restoring a backup as a VM on `node`.
    pub async fn backup_restore(
        &self,
        node: &str,
        req: &RestoreRequest,
    ) -> Result<TaskStarted, ClientError> {
        self.post(&format!("/nodes/{node}/qmrestore"), req).await
    }

    /// Re-reads the chunks of `storage` (or of one backup) on `node` and checks them.
    pub async fn backup_verify(
        &self,
        node: &str,
        storage: &str,
        req: &VerifyRequest,
    ) -> Result<VerifyResult, ClientError> {
        self.send(
            self.request(
                reqwest::Method::POST,
                &format!("/nodes/{node}/storage/{storage}/verify"),
            )
            .json(req)
            .timeout(GUEST_TIMEOUT),
        )
        .await
    }

    /// Applies retention to the backups of `storage` on `node`.
    pub async fn backup_prune(
        &self,
        node: &str,
        storage: &str,
        req: &PruneRequest,
    ) -> Result<PruneResult, ClientError> {
        self.send(
            self.request(
                reqwest::Method::POST,
                &format!("/nodes/{node}/storage/{storage}/prunebackups"),
            )
            .json(req)
            .timeout(GUEST_TIMEOUT),
        )
        .await
    }
}
