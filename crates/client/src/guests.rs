//! Guest and storage calls.

use std::collections::BTreeMap;
use std::time::Duration;

use brigade_api::cluster::NextId;
use brigade_api::guests::{
    ConsoleLog, GuestConfigView, GuestLocation, GuestRow, GuestStatus, MigrateTargets,
};
use brigade_api::rrd::RrdRow;
use brigade_api::storage::{StorageAddRequest, StorageEntry, StorageStatusRow};
use brigade_api::tasks::TaskStarted;

use brigade_core::layout::GuestKind;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::{Client, ClientError};

/// How long a guest operation may take (a start waits for QEMU, a shutdown for the guest).
pub const GUEST_TIMEOUT: Duration = Duration::from_secs(180);

fn kind_path(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Qemu => "qemu",
        GuestKind::Lxc => "lxc",
    }
}

impl Client {
    async fn guest_call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let mut r = self.request(method, path).timeout(GUEST_TIMEOUT);
        if let Some(b) = body {
            r = r.json(b);
        }
        self.send(r).await
    }

    /// Every guest in the cluster with its node and state.
    pub async fn resources(&self) -> Result<Vec<GuestRow>, ClientError> {
        self.get("/cluster/resources", &[]).await
    }

    /// The lowest VMID no guest has (`GET /cluster/nextid`); with `vmid`, that one if it
    /// is free (a conflict error when taken).
    pub async fn next_id(&self, vmid: Option<u32>) -> Result<NextId, ClientError> {
        let asked = vmid.map(|v| v.to_string());
        let query = asked
            .iter()
            .map(|v| ("vmid", v.as_str()))
            .collect::<Vec<_>>();
        self.get("/cluster/nextid", &query).await
    }

    /// The node holding `vmid`.
    pub async fn locate(&self, vmid: u32) -> Result<GuestLocation, ClientError> {
        self.get(&format!("/cluster/guests/{vmid}"), &[]).await
    }

    pub async fn guest_create(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        config: &BTreeMap<String, String>,
        ostemplate: Option<&str>,
        start: bool,
    ) -> Result<Value, ClientError> {
        let body =
            json!({ "vmid": vmid, "config": config, "ostemplate": ostemplate, "start": start });
        self.guest_call(
            reqwest::Method::POST,
            &format!("/nodes/{node}/{}", kind_path(kind)),
            Some(&body),
        )
        .await
    }

    /// `start`, `stop`, `shutdown` or `reboot` on the guest's node.
    pub async fn guest_power(
        &self,
        loc: &GuestLocation,
        action: &str,
        body: Value,
    ) -> Result<GuestStatus, ClientError> {
        self.guest_call(
            reqwest::Method::POST,
            &format!(
                "/nodes/{}/{}/{}/status/{action}",
                loc.node,
                kind_path(loc.kind),
                loc.vmid
            ),
            Some(&body),
        )
        .await
    }

    pub async fn guest_status(&self, loc: &GuestLocation) -> Result<GuestStatus, ClientError> {
        self.get(
            &format!(
                "/nodes/{}/{}/{}/status/current",
                loc.node,
                kind_path(loc.kind),
                loc.vmid
            ),
            &[],
        )
        .await
    }

    pub async fn guest_config(&self, loc: &GuestLocation) -> Result<GuestConfigView, ClientError> {
        self.get(
            &format!(
                "/nodes/{}/{}/{}/config",
                loc.node,
                kind_path(loc.kind),
                loc.vmid
            ),
            &[],
        )
        .await
    }

    pub async fn guest_set(
        &self,
        loc: &GuestLocation,
        set: &BTreeMap<String, String>,
        delete: &[String],
    ) -> Result<GuestConfigView, ClientError> {
        self.guest_call(
            reqwest::Method::PUT,
            &format!(
                "/nodes/{}/{}/{}/config",
                loc.node,
                kind_path(loc.kind),
                loc.vmid
            ),
            Some(&json!({ "set": set, "delete": delete })),
        )
        .await
    }

    pub async fn guest_destroy(&self, loc: &GuestLocation) -> Result<Value, ClientError> {
        self.guest_call::<Value, Value>(
            reqwest::Method::DELETE,
            &format!("/nodes/{}/{}/{}", loc.node, kind_path(loc.kind), loc.vmid),
            None,
        )
        .await
    }

    /// Which nodes can take the guest now, and why the others cannot.
    pub async fn guest_migrate_targets(
        &self,
        loc: &GuestLocation,
    ) -> Result<MigrateTargets, ClientError> {
        self.get(
            &format!(
                "/nodes/{}/{}/{}/migrate",
                loc.node,
                kind_path(loc.kind),
                loc.vmid
            ),
            &[],
        )
        .await
    }

    pub async fn guest_migrate(
        &self,
        loc: &GuestLocation,
        target: &str,
        online: bool,
    ) -> Result<TaskStarted, ClientError> {
        self.guest_call(
            reqwest::Method::POST,
            &format!(
                "/nodes/{}/{}/{}/migrate",
                loc.node,
                kind_path(loc.kind),
                loc.vmid
            ),
            Some(&json!({ "target": target, "online": online })),
        )
        .await
    }

    /// What the guest printed on its console since it started on its node.
    pub async fn guest_console_log(
        &self,
        loc: &GuestLocation,
        tail: Option<u64>,
    ) -> Result<String, ClientError> {
        let tail = tail.map(|t| t.to_string());
        let mut q = Vec::new();
        if let Some(t) = &tail {
            q.push(("tail", t.as_str()));
        }
        let log: ConsoleLog = self
            .get(
                &format!(
                    "/nodes/{}/{}/{}/console-log",
                    loc.node,
                    kind_path(loc.kind),
                    loc.vmid
                ),
                &q,
            )
            .await?;
        Ok(log.output)
    }

    pub async fn storage_list(&self) -> Result<Vec<StorageEntry>, ClientError> {
        self.get("/storage", &[]).await
    }

    pub async fn storage_add(&self, req: &StorageAddRequest) -> Result<Value, ClientError> {
        self.post("/storage", req).await
    }

    pub async fn storage_remove(&self, id: &str) -> Result<Value, ClientError> {
        self.delete(&format!("/storage/{id}")).await
    }

    pub async fn storage_status(&self, node: &str) -> Result<Vec<StorageStatusRow>, ClientError> {
        self.get(&format!("/nodes/{node}/storage"), &[]).await
    }

    /// A node's graph history (`timeframe` hour..year, `cf` AVERAGE or MAX).
    pub async fn node_rrd(
        &self,
        node: &str,
        timeframe: &str,
        cf: &str,
    ) -> Result<Vec<RrdRow>, ClientError> {
        self.get(
            &format!("/nodes/{node}/rrddata"),
            &[("timeframe", timeframe), ("cf", cf)],
        )
        .await
    }

    /// A guest's graph history, answered by the node that runs it.
    pub async fn guest_rrd(
        &self,
        kind: GuestKind,
        vmid: u32,
        timeframe: &str,
        cf: &str,
    ) -> Result<Vec<RrdRow>, ClientError> {
        // Any node answers: it forwards to the guest's.
        let node = "localhost";
        self.get(
            &format!("/nodes/{node}/{kind}/{vmid}/rrddata"),
            &[("timeframe", timeframe), ("cf", cf)],
        )
        .await
    }
}

impl Client {
    /// Attaches to a running VM's serial console (an HTTP upgrade to a raw stream).
    pub async fn console_attach(
        &self,
        loc: &GuestLocation,
    ) -> Result<reqwest::Upgraded, ClientError> {
        let resp = self
            .request(
                reqwest::Method::GET,
                &format!("/nodes/{}/qemu/{}/console", loc.node, loc.vmid),
            )
            .header(reqwest::header::CONNECTION, "upgrade")
            .header(reqwest::header::UPGRADE, "brigade-console")
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        if resp.status() != reqwest::StatusCode::SWITCHING_PROTOCOLS {
            // An error answer: decode it like any other.
            return Err(self.error_answer(resp).await);
        }
        resp.upgrade().await.map_err(|e| self.transport(e))
    }
}
