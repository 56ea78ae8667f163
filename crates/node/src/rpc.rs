//! The node's own internal RPC routes (leader-only administration), on the mutual-TLS port.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

use crate::node::Node;
use brigade_api::cluster::{AdminOp, AdminResult};
use brigade_api::ErrorBody;

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/node/admin", post(admin))
        .route("/node/guest", post(guest))
        .with_state(node)
}

async fn guest(
    State(node): State<Arc<Node>>,
    headers: axum::http::HeaderMap,
    Json(req): Json<brigade_api::guests::GuestRequest>,
) -> Json<Result<serde_json::Value, ErrorBody>> {
    let min = headers
        .get(crate::guests::MIN_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let (Some(v), Some(rt)) = (min, node.cluster()) {
        rt.cfs
            .wait_applied(v, crate::guests::CATCH_UP_TIMEOUT)
            .await;
    }
    Json(
        node.handle_guest(req)
            .await
            .map_err(|e| ErrorBody::from(&e)),
    )
}

async fn admin(
    State(node): State<Arc<Node>>,
    Json(op): Json<AdminOp>,
) -> Json<Result<AdminResult, ErrorBody>> {
    Json(node.admin(op).await.map_err(|e| ErrorBody::from(&e)))
}
