//! `/cluster/...`: create, join tokens, join, nodes, delnode, status.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::Router;

use super::{ok, ApiJson, ApiResult};
use crate::messages::*;
use crate::node::Node;

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

async fn delnode(State(node): State<Arc<Node>>, Path(name): Path<String>) -> ApiResult<()> {
    node.delnode(&name).await?;
    Ok(ok(()))
}

async fn status(State(node): State<Arc<Node>>) -> ApiResult<ClusterStatus> {
    Ok(ok(node.status()))
}
