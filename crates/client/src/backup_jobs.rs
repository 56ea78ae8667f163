//! Backup job calls (`/cluster/backup`): list, show, add, change, remove, run now.

use brigade_api::backup_jobs::{BackupJobRequest, BackupJobRow};
use brigade_api::tasks::TaskStarted;
use serde_json::Value;

use crate::{Client, ClientError};

impl Client {
    /// The backup jobs with their next runs.
    pub async fn backup_jobs(&self) -> Result<Vec<BackupJobRow>, ClientError> {
        self.get("/cluster/backup", &[]).await
    }

    /// One backup job with its recent runs.
    pub async fn backup_job(&self, id: &str) -> Result<BackupJobRow, ClientError> {
        self.get(&format!("/cluster/backup/{id}"), &[]).await
    }

    /// Adds a backup job.
    pub async fn backup_job_add(
        &self,
        req: &BackupJobRequest,
    ) -> Result<BackupJobRow, ClientError> {
        self.post("/cluster/backup", req).await
    }

    /// Changes a backup job.
    pub async fn backup_job_set(
        &self,
        id: &str,
        req: &BackupJobRequest,
    ) -> Result<BackupJobRow, ClientError> {
        self.send(
            self.request(reqwest::Method::PUT, &format!("/cluster/backup/{id}"))
                .json(req)
                .timeout(crate::REQUEST_TIMEOUT),
        )
        .await
    }

    /// Removes a backup job.
    pub async fn backup_job_remove(&self, id: &str) -> Result<Value, ClientError> {
        self.delete(&format!("/cluster/backup/{id}")).await
    }

    /// Runs a backup job now: one task per guest, on its node.
    pub async fn backup_job_run(&self, id: &str) -> Result<Vec<TaskStarted>, ClientError> {
        self.post(&format!("/cluster/backup/{id}/run"), &serde_json::json!({}))
            .await
    }
}
