//! `GET /version`.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use serde::Serialize;

use super::{ok, ApiResult};
use crate::node::Node;

#[derive(Serialize)]
struct Version {
    version: &'static str,
    release: &'static str,
}

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/version", get(version))
}

async fn version() -> ApiResult<Version> {
    Ok(ok(Version {
        version: env!("CARGO_PKG_VERSION"),
        release: "brigade",
    }))
}
