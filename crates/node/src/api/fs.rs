//! `/fs/...`: the replicated file tree: read, list, write, mkdir, delete, rename, lock, watch.
//! Writes and renames of files whose format brigade owns are validated first.

use brigade_access::requirement::Requirement;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use futures::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use brigade_cfs::{Applied, DirEntryInfo, Op};

use super::{ok, ApiError, ApiJson, ApiQuery, ApiResult};
use crate::error::NodeError;
use crate::node::{cfs_path, Node};
use brigade_api::fs::*;

/// Default lease of a lock taken through the API.
pub const DEFAULT_LOCK_LEASE_MS: u64 = 120_000;

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    ("GET", "/fs/read", Requirement::Root),
    ("GET", "/fs/list", Requirement::Root),
    ("GET", "/fs/watch", Requirement::Root),
    ("POST", "/fs/write", Requirement::Root),
    ("POST", "/fs/mkdir", Requirement::Root),
    ("POST", "/fs/delete", Requirement::Root),
    ("POST", "/fs/rename", Requirement::Root),
    ("POST", "/fs/lock", Requirement::Root),
    ("POST", "/fs/unlock", Requirement::Root),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/fs/read", get(read))
        .route("/fs/list", get(list))
        .route("/fs/watch", get(watch))
        .route("/fs/write", post(write))
        .route("/fs/mkdir", post(mkdir))
        .route("/fs/delete", post(delete))
        .route("/fs/rename", post(rename))
        .route("/fs/lock", post(lock))
        .route("/fs/unlock", post(unlock))
}

async fn read(
    State(node): State<Arc<Node>>,
    ApiQuery(q): ApiQuery<PathQuery>,
) -> ApiResult<FsFile> {
    let cfs = &node.require_cluster()?.cfs;
    let path = cfs_path(&q.path)?;
    let file = if q.consistent {
        cfs.read_consistent(&path).await?
    } else {
        cfs.read(&path)?
    };
    Ok(ok(fs_file(file)))
}

async fn list(
    State(node): State<Arc<Node>>,
    ApiQuery(q): ApiQuery<PathQuery>,
) -> ApiResult<Vec<DirEntryInfo>> {
    let cfs = &node.require_cluster()?.cfs;
    let path = cfs_path(&q.path)?;
    if q.consistent {
        cfs.read_consistent(&path).await?;
    }
    Ok(ok(cfs.list(&path)?))
}

async fn propose(node: &Node, op: Op) -> ApiResult<Applied> {
    Ok(ok(node.require_cluster()?.cfs.propose(op).await?))
}

async fn write(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<WriteRequest>,
) -> ApiResult<Applied> {
    let data = match (req.content, req.data) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| NodeError::Invalid(format!("data is not valid base64: {e}")))?,
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => {
            return Err(NodeError::Invalid("give either content or data, not both".into()).into())
        }
    };
    let path = cfs_path(&req.path)?;
    // An existing file refuses a create-exclusive write whatever the new content.
    if req.create_exclusive && node.require_cluster()?.cfs.read(&path).is_ok() {
        return Err(brigade_cfs::CfsError::Exists {
            path: path.to_string(),
        }
        .into());
    }
    let started = std::time::Instant::now();
    node.validate_write(&path, &data)?;
    let validated = started.elapsed();
    let op = Op::Write {
        path,
        data,
        expect_version: req.expect_version,
        create_exclusive: req.create_exclusive,
    };
    let answer = propose(&node, op).await;
    tracing::debug!(
        validate_micros = validated.as_micros() as u64,
        total_micros = started.elapsed().as_micros() as u64,
        "api fs write"
    );
    answer
}

async fn mkdir(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<MkdirRequest>,
) -> ApiResult<Applied> {
    propose(
        &node,
        Op::Mkdir {
            path: cfs_path(&req.path)?,
            parents: req.parents,
        },
    )
    .await
}

async fn delete(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<DeleteRequest>,
) -> ApiResult<Applied> {
    let path = cfs_path(&req.path)?;
    node.validate_delete(&path)?;
    let op = Op::Delete {
        path,
        expect_version: req.expect_version,
        recursive: req.recursive,
    };
    propose(&node, op).await
}

async fn rename(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<RenameRequest>,
) -> ApiResult<Applied> {
    let (from, to) = (cfs_path(&req.from)?, cfs_path(&req.to)?);
    node.validate_rename(&from, &to)?;
    propose(&node, Op::Rename { from, to }).await
}

async fn lock(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<LockRequest>,
) -> ApiResult<Applied> {
    let op = Op::Lock {
        path: cfs_path(&req.path)?,
        owner: req.owner,
        lease_ms: req.lease_ms.unwrap_or(DEFAULT_LOCK_LEASE_MS),
        steal_generation: None,
    };
    propose(&node, op).await
}

async fn unlock(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<LockRequest>,
) -> ApiResult<Applied> {
    propose(
        &node,
        Op::Unlock {
            path: cfs_path(&req.path)?,
            owner: req.owner,
        },
    )
    .await
}

/// Streams every change at or below `path` as one JSON object per line.
async fn watch(
    State(node): State<Arc<Node>>,
    ApiQuery(q): ApiQuery<PathQuery>,
) -> Result<Response, ApiError> {
    let cfs = &node.require_cluster()?.cfs;
    let prefix = cfs_path(&q.path)?;
    let stream = BroadcastStream::new(cfs.subscribe()).filter_map(move |item| {
        let prefix = prefix.clone();
        async move {
            let line = match item {
                Ok(change) => {
                    let p: Option<brigade_core::CfsPath> = change.path.parse().ok();
                    if !p.is_some_and(|p| p.starts_with(&prefix)) {
                        return None;
                    }
                    serde_json::to_string(&change).ok()?
                }
                Err(lagged) => serde_json::json!({ "lagged": lagged.to_string() }).to_string(),
            };
            Some(Ok::<_, Infallible>(format!("{line}\n")))
        }
    });
    // A first line so clients know the watch is established.
    let hello =
        futures::stream::once(async { Ok::<_, Infallible>("{\"watching\":true}\n".to_string()) });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(hello.chain(stream)),
    )
        .into_response())
}

/// A file as the API returns it: text as `content` when it is UTF-8, always base64 `data`.
fn fs_file(f: brigade_cfs::FileInfo) -> FsFile {
    use base64::Engine as _;
    FsFile {
        data: base64::engine::general_purpose::STANDARD.encode(&f.data),
        content: String::from_utf8(f.data).ok(),
        path: f.path,
        dir: f.dir,
        version: f.version,
        size: f.size,
        mtime: f.mtime,
    }
}
