//! `/qdevice/adopt` (on a qdevice, before it belongs to a cluster) and `/cluster/qdevice` (remove).

use brigade_access::requirement::Requirement;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::{delete, post};
use axum::Router;

use super::{ok, ApiJson, ApiResult};
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::cluster::{JoinRequest, JoinResult};

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    ("DELETE", "/cluster/qdevice", Requirement::Root),
    ("POST", "/qdevice/adopt", Requirement::World),
];

/// Unauthenticated: a qdevice that belongs to no cluster accepts a join token from a member.
pub fn adopt_routes() -> Router<Arc<Node>> {
    Router::new().route("/qdevice/adopt", post(adopt))
}

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/cluster/qdevice", delete(remove))
}

async fn adopt(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<JoinRequest>,
) -> ApiResult<JoinResult> {
    if !node.config.qdevice {
        return Err(NodeError::Invalid(format!(
            "{} is a node, not a qdevice (start one with 'brigade qdevice run')",
            node.config.name
        ))
        .into());
    }
    if let Some(rt) = node.cluster() {
        return Err(NodeError::Conflict(format!(
            "this qdevice is already used by cluster {:?}",
            rt.membership.cluster
        ))
        .into());
    }
    Ok(ok(node.join_cluster(req).await?))
}

async fn remove(State(node): State<Arc<Node>>) -> ApiResult<()> {
    node.qdevice_remove().await?;
    Ok(ok(()))
}
