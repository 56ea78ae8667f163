//! `POST /local/mount`: mount (or unmount) the configuration tree on this node's machine.

use brigade_access::requirement::Requirement;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use super::{ok, ApiJson, ApiResult};
use crate::node::Node;
use brigade_api::fs::MountRequest;

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] =
    &[("POST", "/local/mount", Requirement::Root)];

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/local/mount", post(mount))
}

async fn mount(
    State(node): State<Arc<Node>>,
    ApiJson(body): ApiJson<MountRequest>,
) -> ApiResult<Value> {
    if body.unmount {
        node.unmount_cfs(Some(&body.path))?;
    } else {
        let n = node.clone();
        let p = body.path.clone();
        // Mounting talks to the kernel and waits on it: off the async workers.
        tokio::task::block_in_place(|| n.mount_cfs(&p))?;
    }
    Ok(ok(
        serde_json::json!({ "path": body.path, "mounted": !body.unmount }),
    ))
}
