//! HA calls.

use brigade_api::ha::{GroupRequest, HaStatus, ResourceRequest};
use serde_json::{json, Value};

use crate::{Client, ClientError};

impl Client {
    pub async fn ha_status(&self) -> Result<HaStatus, ClientError> {
        self.get("/cluster/ha/status", &[]).await
    }

    pub async fn ha_resources(&self) -> Result<Value, ClientError> {
        self.get("/cluster/ha/resources", &[]).await
    }

    pub async fn ha_add(&self, req: &ResourceRequest) -> Result<Value, ClientError> {
        self.post("/cluster/ha/resources", req).await
    }

    pub async fn ha_set(&self, sid: &str, req: &ResourceRequest) -> Result<Value, ClientError> {
        self.send(
            self.request(
                reqwest::Method::PUT,
                &format!("/cluster/ha/resources/{sid}"),
            )
            .json(req)
            .timeout(crate::REQUEST_TIMEOUT),
        )
        .await
    }

    pub async fn ha_remove(&self, sid: &str) -> Result<Value, ClientError> {
        self.delete(&format!("/cluster/ha/resources/{sid}")).await
    }

    pub async fn ha_migrate(&self, sid: &str, node: &str) -> Result<Value, ClientError> {
        self.post(
            &format!("/cluster/ha/resources/{sid}/migrate"),
            &json!({ "node": node }),
        )
        .await
    }

    pub async fn ha_groups(&self) -> Result<Value, ClientError> {
        self.get("/cluster/ha/groups", &[]).await
    }

    pub async fn ha_group_add(&self, req: &GroupRequest) -> Result<Value, ClientError> {
        self.post("/cluster/ha/groups", req).await
    }

    pub async fn ha_group_remove(&self, name: &str) -> Result<Value, ClientError> {
        self.delete(&format!("/cluster/ha/groups/{name}")).await
    }

    pub async fn ha_maintenance(&self, node: &str, enable: bool) -> Result<Value, ClientError> {
        self.post(
            &format!("/nodes/{node}/maintenance"),
            &json!({ "enable": enable }),
        )
        .await
    }
}

impl Client {
    /// Asks the node (which must run on this machine) to mount or unmount the tree at `path`.
    pub async fn local_mount(
        &self,
        path: &std::path::Path,
        unmount: bool,
    ) -> Result<Value, ClientError> {
        self.post("/local/mount", &json!({ "path": path, "unmount": unmount }))
            .await
    }
}
