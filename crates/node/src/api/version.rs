//! `GET /version`.

use brigade_access::requirement::Requirement;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use brigade_api::cluster::Version;

use super::{ok, ApiResult};
use crate::node::Node;

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] =
    &[("GET", "/version", Requirement::Authenticated)];

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/version", get(version))
}

async fn version() -> ApiResult<Version> {
    Ok(ok(Version {
        version: env!("CARGO_PKG_VERSION").into(),
        release: "brigade".into(),
    }))
}
