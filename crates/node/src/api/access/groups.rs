//! `/access/groups` and `/access/groups/{groupid}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_api::access::{GroupEntry, GroupRequest};

use crate::access_admin::groups;
use crate::api::{ok, ApiJson, ApiResult};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/access/groups", get(list).post(create))
        .route(
            "/access/groups/{groupid}",
            get(one).put(update).delete(remove),
        )
}

async fn list(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
) -> ApiResult<Vec<GroupEntry>> {
    Ok(ok(groups::list(&node, &auth)?))
}

async fn one(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(groupid): Path<String>,
) -> ApiResult<GroupEntry> {
    Ok(ok(groups::get(&node, &auth, &groupid)?))
}

async fn create(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    ApiJson(req): ApiJson<GroupRequest>,
) -> ApiResult<GroupEntry> {
    Ok(ok(groups::create(&node, &auth, req).await?))
}

async fn update(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(groupid): Path<String>,
    ApiJson(req): ApiJson<GroupRequest>,
) -> ApiResult<GroupEntry> {
    Ok(ok(groups::update(&node, &auth, &groupid, req).await?))
}

async fn remove(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(groupid): Path<String>,
) -> ApiResult<()> {
    groups::delete(&node, &auth, &groupid).await?;
    Ok(ok(()))
}
