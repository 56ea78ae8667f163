//! `/cluster/...`: create, join tokens, join, nodes, delnode, status.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::Router;

use serde::Deserialize;

use super::{ok, ApiJson, ApiQuery, ApiResult};
use crate::node::Node;
use brigade_api::cluster::*;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/cluster/create", post(create))
        .route("/cluster/join-token", post(join_token))
        .route("/cluster/join", post(join))
        .route("/cluster/nodes", get(nodes))
        .route("/cluster/nodes/{name}", delete(delnode))
        .route("/cluster/status", get(status))
}

async fn create(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<CreateRequest>,
) -> ApiResult<CreateResult> {
    Ok(ok(node.create_cluster(req).await?))
}

async fn join_token(State(node): State<Arc<Node>>) -> ApiResult<JoinTokenResult> {
    Ok(ok(node.make_join_token().await?))
}

async fn join(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<JoinRequest>,
) -> ApiResult<JoinResult> {
    Ok(ok(node.join_cluster(req).await?))
}

async fn nodes(State(node): State<Arc<Node>>) -> ApiResult<Vec<NodeRow>> {
    Ok(ok(node.nodes()?))
}

/// `DELETE /cluster/nodes/{name}?force=true`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelnodeQuery {
    /// Remove it even while guest configs are still under `nodes/NAME`.
    #[serde(default)]
    force: bool,
}

async fn delnode(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<DelnodeQuery>,
) -> ApiResult<()> {
    node.delnode(&name, q.force).await?;
    Ok(ok(()))
}

async fn status(State(node): State<Arc<Node>>) -> ApiResult<ClusterStatus> {
    Ok(ok(node.status()))
}
