//! `/access/roles` and `/access/roles/{roleid}` (built-in roles are read-only).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_api::access::{RoleEntry, RoleRequest};

use crate::access_admin::roles;
use crate::api::{ok, ApiJson, ApiResult};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/access/roles", get(list).post(create))
        .route(
            "/access/roles/{roleid}",
            get(one).put(update).delete(remove),
        )
}

async fn list(State(node): State<Arc<Node>>) -> ApiResult<Vec<RoleEntry>> {
    Ok(ok(roles::list(&node)?))
}

async fn one(State(node): State<Arc<Node>>, Path(roleid): Path<String>) -> ApiResult<RoleEntry> {
    Ok(ok(roles::get(&node, &roleid)?))
}

async fn create(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> ApiResult<RoleEntry> {
    Ok(ok(roles::create(&node, &auth, req).await?))
}

async fn update(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(roleid): Path<String>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> ApiResult<RoleEntry> {
    Ok(ok(roles::update(&node, &auth, &roleid, req).await?))
}

async fn remove(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(roleid): Path<String>,
) -> ApiResult<()> {
    roles::delete(&node, &auth, &roleid).await?;
    Ok(ok(()))
}
