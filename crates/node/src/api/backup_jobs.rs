//! `/cluster/backup` (Proxmox's backup jobs of `jobs.cfg`): list with next runs, add, show with
//! recent runs, change, remove, and `POST /cluster/backup/{id}/run` (run now).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use brigade_access::requirement::Requirement;
use brigade_access::{Authid, Privilege as P};
use brigade_api::backup_jobs::{BackupJobRequest, BackupJobRow};
use brigade_api::tasks::TaskStarted;
use serde_json::Value;

use super::{ok, ApiJson, ApiResult};
use crate::error::NodeError;
use crate::node::Node;

/// What each route of this file requires (as Proxmox: Sys.Audit to read, Sys.Modify on / to
/// change; running one now is checked again per guest, VM.Backup and the storage's space).
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    (
        "GET",
        "/cluster/backup",
        Requirement::perm("/", &[P::SysAudit]),
    ),
    (
        "POST",
        "/cluster/backup",
        Requirement::perm("/", &[P::SysModify]),
    ),
    (
        "GET",
        "/cluster/backup/{id}",
        Requirement::perm("/", &[P::SysAudit]),
    ),
    (
        "PUT",
        "/cluster/backup/{id}",
        Requirement::perm("/", &[P::SysModify]),
    ),
    (
        "DELETE",
        "/cluster/backup/{id}",
        Requirement::perm("/", &[P::SysModify]),
    ),
    (
        "POST",
        "/cluster/backup/{id}/run",
        Requirement::perm("/", &[P::SysModify]),
    ),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/cluster/backup", get(list).post(add))
        .route("/cluster/backup/{id}", get(one).put(set).delete(remove))
        .route("/cluster/backup/{id}/run", post(run))
}

async fn list(State(node): State<Arc<Node>>) -> ApiResult<Vec<BackupJobRow>> {
    Ok(ok(node.backup_jobs_list()?))
}

async fn one(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult<BackupJobRow> {
    Ok(ok(node.backup_job_show(&id)?))
}

async fn add(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<BackupJobRequest>,
) -> ApiResult<BackupJobRow> {
    Ok(ok(node.backup_job_add(req).await?))
}

async fn set(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<BackupJobRequest>,
) -> ApiResult<BackupJobRow> {
    Ok(ok(node.backup_job_set(&id, req).await?))
}

async fn remove(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult<Value> {
    node.backup_job_remove(&id).await?;
    Ok(ok(serde_json::json!({ "removed": id })))
}

async fn run(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path(id): Path<String>,
) -> ApiResult<Vec<TaskStarted>> {
    let started = node.backup_job_run_now(&caller, &id).await?;
    let tasks = started
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<Vec<TaskStarted>, _>>()
        .map_err(NodeError::internal)?;
    Ok(ok(tasks))
}
