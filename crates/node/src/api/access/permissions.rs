//! `GET /access/permissions`: effective privileges per path.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_api::access::{PermissionsMap, PermissionsQuery};

use crate::access_admin::query;
use crate::api::{ok, ApiQuery, ApiResult};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/access/permissions", get(permissions))
}

async fn permissions(
    State(node): State<Arc<Node>>,
    Extension(auth): Extension<Authid>,
    ApiQuery(q): ApiQuery<PermissionsQuery>,
) -> ApiResult<PermissionsMap> {
    Ok(ok(query::permissions(&node, &auth, &q)?))
}
