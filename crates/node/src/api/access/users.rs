//! `/access/users` and `/access/users/{userid}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_api::access::{UserCreate, UserEntry, UserUpdate};

use crate::access_admin::users;
use crate::api::{ok, ApiJson, ApiResult};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/access/users", get(list).post(create))
        .route(
            "/access/users/{userid}",
            get(one).put(update).delete(remove),
        )
}

async fn list(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
) -> ApiResult<Vec<UserEntry>> {
    Ok(ok(users::list(&node, &auth)?))
}

async fn one(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(userid): Path<String>,
) -> ApiResult<UserEntry> {
    Ok(ok(users::get(&node, &auth, &userid)?))
}

async fn create(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    ApiJson(req): ApiJson<UserCreate>,
) -> ApiResult<UserEntry> {
    Ok(ok(users::create(&node, &auth, req).await?))
}

async fn update(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(userid): Path<String>,
    ApiJson(req): ApiJson<UserUpdate>,
) -> ApiResult<UserEntry> {
    Ok(ok(users::update(&node, &auth, &userid, req).await?))
}

async fn remove(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(userid): Path<String>,
) -> ApiResult<()> {
    users::delete(&node, &auth, &userid).await?;
    Ok(ok(()))
}
