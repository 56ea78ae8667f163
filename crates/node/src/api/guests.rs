//! `/nodes/{node}/{qemu,lxc}/...` and `/cluster/resources`: guests, as Proxmox's API
//! lays them out. Requests for another node are forwarded to it over mTLS.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::Router;
use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use serde::Deserialize;
use serde_json::Value;

use super::{ok, ApiError, ApiJson, ApiQuery, ApiResult};
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::guests::{GuestLocation, GuestRequest, GuestRow};

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/cluster/resources", get(resources))
        .route("/cluster/guests/{vmid}", get(where_is))
        .route("/nodes/{node}/{kind}", post(create))
        .route(
            "/nodes/{node}/{kind}/{vmid}",
            axum::routing::delete(destroy),
        )
        .route("/nodes/{node}/{kind}/{vmid}/status/current", get(status))
        .route("/nodes/{node}/{kind}/{vmid}/status/{action}", post(power))
        .route(
            "/nodes/{node}/{kind}/{vmid}/config",
            get(config).put(set_config),
        )
        .route("/nodes/{node}/{kind}/{vmid}/migrate", post(migrate))
        .route("/nodes/{node}/{kind}/{vmid}/console-log", get(console_log))
        .route("/nodes/{node}/tasks/{upid}/status", get(task))
}

/// `localhost` means the node answering, as in Proxmox's API.
fn node_name(node: &Node, name: String) -> String {
    if name == "localhost" {
        node.config.name.to_string()
    } else {
        name
    }
}

fn kind(s: &str) -> Result<GuestKind, ApiError> {
    match s {
        "qemu" => Ok(GuestKind::Qemu),
        "lxc" => Ok(GuestKind::Lxc),
        other => Err(ApiError(NodeError::NotFound(format!(
            "no such guest type {other:?} (qemu or lxc)"
        )))),
    }
}

fn vmid(s: &str) -> Result<VmId, ApiError> {
    s.parse().map_err(|e| ApiError(NodeError::Format(e)))
}

async fn resources(State(node): State<Arc<Node>>) -> ApiResult<Vec<GuestRow>> {
    Ok(ok(node.cluster_resources().await?))
}

async fn where_is(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<GuestLocation> {
    let v = vmid(&id)?;
    let rt = node.require_cluster()?;
    let l = crate::guests::find_guest(&rt.cfs, v)
        .ok_or_else(|| ApiError(NodeError::NotFound(format!("guest {v} does not exist"))))?;
    Ok(ok(GuestLocation {
        node: l.node,
        kind: l.kind,
        vmid: v.get(),
    }))
}

/// `POST /nodes/{node}/{qemu,lxc}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    vmid: VmId,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    ostemplate: Option<String>,
    #[serde(default)]
    start: bool,
}

async fn create(
    State(node): State<Arc<Node>>,
    Path((name, k)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateBody>,
) -> ApiResult<Value> {
    let req = GuestRequest::Create {
        kind: kind(&k)?,
        vmid: body.vmid,
        params: body.config,
        ostemplate: body.ostemplate,
        start: body.start,
    };
    Ok(ok(node.guest_on(&node_name(&node, name), req).await?))
}

async fn destroy(
    State(node): State<Arc<Node>>,
    Path((name, k, id)): Path<(String, String, String)>,
) -> ApiResult<Value> {
    let req = GuestRequest::Destroy {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
    };
    Ok(ok(node.guest_on(&node_name(&node, name), req).await?))
}

async fn status(
    State(node): State<Arc<Node>>,
    Path((name, k, id)): Path<(String, String, String)>,
) -> ApiResult<Value> {
    let req = GuestRequest::Status {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
    };
    Ok(ok(node.guest_on(&node_name(&node, name), req).await?))
}

/// Options of `status/shutdown`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PowerBody {
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default, rename = "forceStop")]
    force_stop: bool,
}

async fn power(
    State(node): State<Arc<Node>>,
    Path((name, k, id, action)): Path<(String, String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Value> {
    let (kind, vmid) = (kind(&k)?, vmid(&id)?);
    // The body is optional: empty means defaults.
    let body: PowerBody = if body.iter().all(u8::is_ascii_whitespace) {
        PowerBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError(NodeError::Invalid(format!("invalid request body: {e}"))))?
    };
    let req = match action.as_str() {
        "start" => GuestRequest::Start { kind, vmid },
        "stop" => GuestRequest::Stop { kind, vmid },
        "reboot" => GuestRequest::Reboot { kind, vmid },
        "shutdown" => GuestRequest::Shutdown {
            kind,
            vmid,
            timeout_secs: body.timeout,
            force_stop: body.force_stop,
        },
        other => {
            return Err(ApiError(NodeError::NotFound(format!(
                "no such action {other:?} (start, stop, shutdown, reboot)"
            ))))
        }
    };
    Ok(ok(node.guest_on(&node_name(&node, name), req).await?))
}

async fn config(
    State(node): State<Arc<Node>>,
    Path((name, k, id)): Path<(String, String, String)>,
) -> ApiResult<Value> {
    let req = GuestRequest::Config {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
    };
    Ok(ok(node.guest_on(&node_name(&node, name), req).await?))
}

/// `PUT .../config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    delete: Vec<String>,
    #[serde(default)]
    digest: Option<u64>,
}

async fn set_config(
    State(node): State<Arc<Node>>,
    Path((name, k, id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<SetBody>,
) -> ApiResult<Value> {
    let req = GuestRequest::SetConfig {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
        set: body.set,
        delete: body.delete,
        digest: body.digest,
    };
    Ok(ok(node.guest_on(&node_name(&node, name), req).await?))
}

/// `POST .../migrate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateBody {
    target: String,
    #[serde(default)]
    online: bool,
}

async fn migrate(
    State(node): State<Arc<Node>>,
    Path((name, k, id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<MigrateBody>,
) -> ApiResult<Value> {
    let req = GuestRequest::Migrate {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
        target: body.target,
        online: body.online,
    };
    Ok(ok(node.guest_on(&node_name(&node, name), req).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TailQuery {
    #[serde(default)]
    tail: Option<u64>,
}

async fn console_log(
    State(node): State<Arc<Node>>,
    Path((name, k, id)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<TailQuery>,
) -> ApiResult<Value> {
    let req = GuestRequest::ConsoleLog {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
        tail_bytes: q.tail,
    };
    Ok(ok(node.guest_on(&node_name(&node, name), req).await?))
}

async fn task(
    State(node): State<Arc<Node>>,
    Path((name, upid)): Path<(String, String)>,
) -> ApiResult<Value> {
    Ok(ok(node
        .guest_on(&node_name(&node, name), GuestRequest::Task { upid })
        .await?))
}
