//! `/fs/history` and `/fs/restore`: the previous versions the tree keeps of a file, and
//! writing one back (a normal replicated write, validated like `fs write`).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use brigade_access::requirement::Requirement;

use brigade_api::fs_history::{FsHistory, FsRestoreRequest, HistoryQuery, Restored};
use brigade_cfs::Op;

use super::{ok, ApiJson, ApiQuery, ApiResult};
use crate::error::NodeError;
use crate::node::{cfs_path, Node};

/// What each route of this file requires: what reading and writing the tree requires.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    ("GET", "/fs/history", Requirement::Root),
    ("POST", "/fs/restore", Requirement::Root),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/fs/history", get(history))
        .route("/fs/restore", post(restore))
}

async fn history(
    State(node): State<Arc<Node>>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<FsHistory> {
    let cfs = &node.require_cluster()?.cfs;
    Ok(ok(cfs.history(&cfs_path(&q.path)?)?))
}

async fn restore(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<FsRestoreRequest>,
) -> ApiResult<Restored> {
    let cfs = &node.require_cluster()?.cfs;
    let path = cfs_path(&req.path)?;
    let Some((data, current)) = cfs.version_content(&path, req.version) else {
        // An unknown path says so; a known one lists what it has.
        cfs.history(&path)?;
        let p = path.as_str();
        return Err(NodeError::NotFound(format!(
            "{p}: no version {} is kept; 'brigade fs history {p}' lists them",
            req.version
        ))
        .into());
    };
    if current == req.version {
        return Err(NodeError::Invalid(format!(
            "{}: version {} is its current content; nothing to restore",
            path.as_str(),
            req.version
        ))
        .into());
    }
    node.validate_write(&path, &data)?;
    let size = data.len() as u64;
    let applied = cfs
        .propose(Op::Write {
            path: path.clone(),
            data,
            // A change meanwhile fails the restore instead of being overwritten.
            expect_version: Some(current),
            create_exclusive: false,
        })
        .await?;
    tracing::info!(%path, restored = req.version, version = applied.version, "file restored from its history");
    Ok(ok(Restored {
        path: path.to_string(),
        restored: req.version,
        version: applied.version,
        size,
    }))
}
