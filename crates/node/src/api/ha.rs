//! `/cluster/ha/...` (like Proxmox's): resources, groups, status, migrate; and
//! `/nodes/{node}/maintenance`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;

use super::{ok, ApiJson, ApiResult};
use crate::ha::ops::{GroupRequest, HaStatus, ResourceRequest};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/cluster/ha/resources", get(resources).post(add))
        .route("/cluster/ha/resources/{sid}", put(set).delete(remove))
        .route("/cluster/ha/resources/{sid}/migrate", post(migrate))
        .route("/cluster/ha/groups", get(groups).post(group_add))
        .route("/cluster/ha/groups/{name}", delete(group_remove))
        .route("/cluster/ha/status", get(status))
        .route("/nodes/{node}/maintenance", post(maintenance))
}

async fn resources(State(node): State<Arc<Node>>) -> ApiResult<Value> {
    let rt = node.require_cluster()?;
    let (r, _) = crate::ha::config_io::resources(&rt.cfs)?;
    Ok(ok(serde_json::to_value(
        r.resources.into_values().collect::<Vec<_>>(),
    )
    .unwrap_or_default()))
}

async fn add(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<ResourceRequest>,
) -> ApiResult<Value> {
    let r = node.ha_add(req).await?;
    Ok(ok(serde_json::to_value(r).unwrap_or_default()))
}

async fn set(
    State(node): State<Arc<Node>>,
    Path(sid): Path<String>,
    ApiJson(req): ApiJson<ResourceRequest>,
) -> ApiResult<Value> {
    let r = node.ha_set(&sid, req).await?;
    Ok(ok(serde_json::to_value(r).unwrap_or_default()))
}

async fn remove(State(node): State<Arc<Node>>, Path(sid): Path<String>) -> ApiResult<Value> {
    node.ha_remove(&sid).await?;
    Ok(ok(serde_json::json!({ "removed": sid })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateBody {
    node: String,
}

async fn migrate(
    State(node): State<Arc<Node>>,
    Path(sid): Path<String>,
    ApiJson(body): ApiJson<MigrateBody>,
) -> ApiResult<Value> {
    node.ha_migrate(&sid, &body.node).await?;
    Ok(ok(
        serde_json::json!({ "requested": sid, "node": body.node }),
    ))
}

async fn groups(State(node): State<Arc<Node>>) -> ApiResult<Value> {
    Ok(ok(
        serde_json::to_value(node.ha_groups()?).unwrap_or_default()
    ))
}

async fn group_add(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<GroupRequest>,
) -> ApiResult<Value> {
    let g = node.ha_group_add(req).await?;
    Ok(ok(serde_json::to_value(g).unwrap_or_default()))
}

async fn group_remove(State(node): State<Arc<Node>>, Path(name): Path<String>) -> ApiResult<Value> {
    node.ha_group_remove(&name).await?;
    Ok(ok(serde_json::json!({ "removed": name })))
}

async fn status(State(node): State<Arc<Node>>) -> ApiResult<HaStatus> {
    Ok(ok(node.ha_status()?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceBody {
    enable: bool,
}

async fn maintenance(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<MaintenanceBody>,
) -> ApiResult<Value> {
    node.ha_maintenance(&name, body.enable).await?;
    Ok(ok(
        serde_json::json!({ "node": name, "maintenance": body.enable }),
    ))
}
