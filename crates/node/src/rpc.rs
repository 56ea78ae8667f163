//! The node's own internal RPC routes (leader-only administration), on the mutual-TLS port.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

use crate::node::Node;
use brigade_api::cluster::{AdminOp, AdminResult};
use brigade_api::ErrorBody;

/// What a peer answered one of these routes: its `Result` body, or why it could not be had.
pub(crate) async fn peer_answer(
    node: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<serde_json::Value, crate::error::NodeError> {
    use crate::error::NodeError;
    let resp = sent.map_err(|e| NodeError::Upstream(format!("cannot reach node {node}: {e}")))?;
    let answer: Result<serde_json::Value, ErrorBody> = resp
        .json()
        .await
        .map_err(|e| NodeError::Upstream(format!("bad answer from node {node}: {e}")))?;
    answer.map_err(NodeError::from)
}

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/node/admin", post(admin))
        .route("/node/guest", post(guest))
        .route("/node/tasks", post(tasks))
        .route(crate::format_version::FORMAT_ROUTE, post(format))
        .route(crate::rrd::HISTORY_ROUTE, post(crate::rrd::receive_history))
        .with_state(node)
}

async fn guest(
    State(node): State<Arc<Node>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
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
    let identity = headers
        .get(crate::access::forward::FORWARDED_IDENTITY_HEADER)
        .and_then(|v| v.to_str().ok());
    if identity.is_none() && !headers.contains_key(crate::format_version::FORMATS_HEADER) {
        // An older build forwards without a sealed caller: say so instead of "missing identity".
        let e = crate::error::NodeError::Conflict(crate::format_version::unsealed_forward());
        tracing::warn!("{e}");
        return Json(Err(ErrorBody::from(&e)));
    }
    Json(
        node.receive_guest(identity, &body)
            .await
            .map_err(|e| ErrorBody::from(&e)),
    )
}

async fn format(
    State(node): State<Arc<Node>>,
    Json(theirs): Json<brigade_api::cluster::FormatAnnouncement>,
) -> Json<Result<brigade_api::cluster::FormatAnnouncement, ErrorBody>> {
    Json(Ok(node.receive_format_announcement(theirs)))
}

async fn tasks(
    State(node): State<Arc<Node>>,
    Json(req): Json<brigade_api::tasks::TaskRequest>,
) -> Json<Result<serde_json::Value, ErrorBody>> {
    Json(node.handle_task(req).map_err(|e| ErrorBody::from(&e)))
}

async fn admin(
    State(node): State<Arc<Node>>,
    Json(op): Json<AdminOp>,
) -> Json<Result<AdminResult, ErrorBody>> {
    Json(node.admin(op).await.map_err(|e| ErrorBody::from(&e)))
}
