//! `/access/tfa` (list), `/access/tfa/{userid}` (add a TOTP or recovery codes; remove all)
//! and `/access/tfa/{userid}/{id}` (remove one factor; `recovery` for the recovery codes).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_api::access::{TfaAdd, TfaAdded, TfaEntry};

use crate::access_admin::tfa;
use crate::api::{ok, ApiJson, ApiResult};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/access/tfa", get(list))
        .route("/access/tfa/{userid}", post(add).delete(remove_all))
        .route("/access/tfa/{userid}/{id}", delete(remove_one))
}

async fn list(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
) -> ApiResult<Vec<TfaEntry>> {
    Ok(ok(tfa::list(&node, &auth)?))
}

async fn add(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(userid): Path<String>,
    ApiJson(req): ApiJson<TfaAdd>,
) -> ApiResult<TfaAdded> {
    Ok(ok(tfa::add(&node, &auth, &userid, req).await?))
}

async fn remove_all(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path(userid): Path<String>,
) -> ApiResult<()> {
    tfa::delete(&node, &auth, &userid, None).await?;
    Ok(ok(()))
}

async fn remove_one(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    Path((userid, id)): Path<(String, String)>,
) -> ApiResult<()> {
    tfa::delete(&node, &auth, &userid, Some(&id)).await?;
    Ok(ok(()))
}
