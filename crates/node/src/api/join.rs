//! `POST /cluster/join/request`: a joining node applies, authenticated by its one-time join token.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::Router;

use super::{ok, ApiJson, ApiResult};
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::cluster::{AdminOp, AdminResult, JoinApplication, JoinGrant};

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/cluster/join/request", post(apply))
}

async fn apply(
    State(node): State<Arc<Node>>,
    headers: axum::http::HeaderMap,
    ApiJson(app): ApiJson<JoinApplication>,
) -> ApiResult<JoinGrant> {
    use crate::format_version::{announced, check_joiner, FORMAT_HEADER};
    let joiner = headers
        .get(FORMAT_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    check_joiner(joiner.as_deref(), announced()).map_err(|e| NodeError::Conflict(e.to_string()))?;
    match node.admin(AdminOp::Join(app)).await? {
        AdminResult::Joined(grant) => Ok(ok(grant)),
        AdminResult::Removed => {
            Err(NodeError::Internal("unexpected answer to a join".into()).into())
        }
    }
}
