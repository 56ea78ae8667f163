//! `/storage` (storage.cfg, cluster-wide) and `/nodes/{node}/storage` (free space there).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::Router;
use brigade_guest::Storage;
use serde_json::Value;

use super::{ok, ApiJson, ApiResult};
use crate::node::Node;
use brigade_api::guests::GuestRequest;
use brigade_api::storage::{StorageAddRequest, StorageEntry};

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/storage", get(list).post(add))
        .route("/storage/{id}", delete(remove))
        .route("/nodes/{node}/storage", get(node_status))
}

async fn list(State(node): State<Arc<Node>>) -> ApiResult<Vec<StorageEntry>> {
    Ok(ok(node.storage_list()?.into_iter().map(entry).collect()))
}

async fn add(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<StorageAddRequest>,
) -> ApiResult<StorageEntry> {
    Ok(ok(entry(node.storage_add(req).await?)))
}

/// A storage of storage.cfg as the API shows it.
fn entry(s: Storage) -> StorageEntry {
    StorageEntry {
        id: s.id,
        kind: s.kind,
        path: s.path,
        content: s.content,
        shared: s.shared,
        disable: s.disable,
        nodes: s.nodes,
    }
}

async fn remove(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult<Value> {
    node.storage_remove(&id).await?;
    Ok(ok(serde_json::json!({ "removed": id })))
}

async fn node_status(State(node): State<Arc<Node>>, Path(name): Path<String>) -> ApiResult<Value> {
    let name = if name == "localhost" {
        node.config.name.to_string()
    } else {
        name
    };
    Ok(ok(node
        .guest_on(&name, GuestRequest::StorageStatus)
        .await?))
}
