//! `/storage` (storage.cfg, cluster-wide) and `/nodes/{node}/storage` (free space there).

use brigade_access::requirement::Requirement;
use brigade_access::Privilege as P;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Extension, Router};
use brigade_access::{Authid, Permissions};
use brigade_guest::Storage;
use serde_json::Value;

use super::{ok, ApiJson, ApiResult};
use crate::node::Node;
use brigade_api::guests::GuestRequest;
use brigade_api::storage::{StorageAddRequest, StorageEntry};

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    ("GET", "/storage", Requirement::Authenticated),
    (
        "POST",
        "/storage",
        Requirement::perm("/storage", &[P::DatastoreAllocate]),
    ),
    (
        "DELETE",
        "/storage/{id}",
        Requirement::perm("/storage", &[P::DatastoreAllocate]),
    ),
    (
        "GET",
        "/nodes/{node}/storage",
        Requirement::perm("/nodes/{node}", &[P::SysAudit]),
    ),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/storage", get(list).post(add))
        .route("/storage/{id}", delete(remove))
        .route("/nodes/{node}/storage", get(node_status))
}

/// The storages the caller may see (`Datastore.Audit` or `Datastore.AllocateSpace` on it).
pub(super) async fn list(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
) -> ApiResult<Vec<StorageEntry>> {
    let st = node.access_state();
    let perms = Permissions::new(&st.users, crate::access::now());
    let items = node.storage_list()?.into_iter().filter_map(|s| {
        let path = brigade_access::AclPath::storage(&s.id).ok()?;
        Some((entry(s), path))
    });
    Ok(ok(perms.filter_paths(
        &caller,
        items,
        &[P::DatastoreAudit, P::DatastoreAllocateSpace],
    )))
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

async fn node_status(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path(name): Path<String>,
) -> ApiResult<Value> {
    let name = if name == "localhost" {
        node.config.name.to_string()
    } else {
        name
    };
    Ok(ok(node
        .guest_on_as(&caller, &name, GuestRequest::StorageStatus)
        .await?))
}
