//! `/access/acl`: list (filtered) and change ACL entries.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_api::access::{AclEntry, AclUpdate};

use crate::access_admin::acl;
use crate::api::{ok, ApiJson, ApiResult};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/access/acl", get(list).put(update))
}

async fn list(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
) -> ApiResult<Vec<AclEntry>> {
    Ok(ok(acl::list(&node, &auth)?))
}

async fn update(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    ApiJson(req): ApiJson<AclUpdate>,
) -> ApiResult<()> {
    acl::update(&node, &auth, req).await?;
    Ok(ok(()))
}
