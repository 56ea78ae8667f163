//! `PUT /access/password`.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::put;
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_api::access::PasswordChange;

use crate::access_admin::users;
use crate::api::{ok, ApiJson, ApiResult};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/access/password", put(change))
}

async fn change(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<()> {
    users::change_password(&node, &auth, req).await?;
    Ok(ok(()))
}
