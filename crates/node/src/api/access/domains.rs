//! `GET /access/domains`: the realms (what the login form offers).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use brigade_api::access::DomainEntry;

use crate::access_admin::query;
use crate::api::{ok, ApiResult};
use crate::node::Node;

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/access/domains", get(list))
}

async fn list(State(node): State<Arc<Node>>) -> ApiResult<Vec<DomainEntry>> {
    Ok(ok(query::domains(&node)?))
}
