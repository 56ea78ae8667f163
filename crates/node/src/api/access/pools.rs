//! `/pools` and `/pools/{poolid}` (members added, or with `delete` removed, by PUT).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_api::access::{PoolEntry, PoolRequest};

use crate::access_admin::pools;
use crate::api::{ok, ApiJson, ApiResult};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/pools", get(list).post(create))
        .route("/pools/{*poolid}", get(one).put(update).delete(remove))
}

async fn list(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
) -> ApiResult<Vec<PoolEntry>> {
    Ok(ok(pools::list(&node, &auth)?))
}

async fn one(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(poolid): Path<String>,
) -> ApiResult<PoolEntry> {
    Ok(ok(pools::get(&node, &auth, &poolid)?))
}

async fn create(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    ApiJson(req): ApiJson<PoolRequest>,
) -> ApiResult<PoolEntry> {
    Ok(ok(pools::create(&node, &auth, req).await?))
}

async fn update(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(poolid): Path<String>,
    ApiJson(req): ApiJson<PoolRequest>,
) -> ApiResult<PoolEntry> {
    Ok(ok(pools::update(&node, &auth, &poolid, req).await?))
}

async fn remove(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(poolid): Path<String>,
) -> ApiResult<()> {
    pools::delete(&node, &auth, &poolid).await?;
    Ok(ok(()))
}
