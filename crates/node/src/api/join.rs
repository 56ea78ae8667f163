//! `POST /cluster/join/request`: a joining node applies, authenticated by its one-time join token.

use brigade_access::requirement::Requirement;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::Router;

use super::{ok, ApiJson, ApiResult};
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::cluster::{AdminOp, AdminResult, JoinApplication, JoinGrant};

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] =
    &[("POST", "/cluster/join/request", Requirement::World)];

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/cluster/join/request", post(apply))
}

async fn apply(
    State(node): State<Arc<Node>>,
    headers: axum::http::HeaderMap,
    ApiJson(app): ApiJson<JoinApplication>,
) -> ApiResult<JoinGrant> {
    use crate::format_version::{check_joiner, joiner_range, FORMATS_HEADER, FORMAT_HEADER};
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let joiner = joiner_range(
        header(FORMAT_HEADER).as_deref(),
        header(FORMATS_HEADER).as_deref(),
    )
    .map_err(|e| NodeError::Conflict(e.to_string()))?;
    let active = node.format_announcement().active_format;
    check_joiner(joiner, active).map_err(|e| NodeError::Conflict(e.to_string()))?;
    match node.admin(AdminOp::Join(app)).await? {
        AdminResult::Joined(grant) => Ok(ok(grant)),
        AdminResult::Removed => {
            Err(NodeError::Internal("unexpected answer to a join".into()).into())
        }
    }
}
