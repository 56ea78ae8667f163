//! `/access/users/{userid}/token` and `/access/users/{userid}/token/{tokenid}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_api::access::{TokenCreated, TokenEntry, TokenRequest};

use crate::access_admin::tokens;
use crate::api::{ok, ApiJson, ApiResult};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/access/users/{userid}/token", get(list))
        .route(
            "/access/users/{userid}/token/{tokenid}",
            get(one).post(create).put(update).delete(remove),
        )
}

async fn list(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(userid): Path<String>,
) -> ApiResult<Vec<TokenEntry>> {
    Ok(ok(tokens::list(&node, &auth, &userid)?))
}

async fn one(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path((userid, tokenid)): Path<(String, String)>,
) -> ApiResult<TokenEntry> {
    Ok(ok(tokens::get(&node, &auth, &userid, &tokenid)?))
}

async fn create(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path((userid, tokenid)): Path<(String, String)>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<TokenCreated> {
    Ok(ok(
        tokens::create(&node, &auth, &userid, &tokenid, req).await?
    ))
}

async fn update(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path((userid, tokenid)): Path<(String, String)>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<TokenEntry> {
    Ok(ok(
        tokens::update(&node, &auth, &userid, &tokenid, req).await?
    ))
}

async fn remove(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path((userid, tokenid)): Path<(String, String)>,
) -> ApiResult<()> {
    tokens::delete(&node, &auth, &userid, &tokenid).await?;
    Ok(ok(()))
}
