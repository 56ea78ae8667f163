//! Backup routes, Proxmox's layout: `POST /nodes/{node}/vzdump` (run on the guest's node),
//! the `backup` content of a storage, `POST /nodes/{node}/qmrestore`, verify and prune.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Router};
use brigade_access::requirement::Requirement;
use brigade_access::{Authid, Privilege as P};
use brigade_api::backup::{
    BackupOp, ContentQuery, PruneRequest, RestoreRequest, VerifyRequest, VzdumpRequest,
};
use brigade_api::guests::GuestRequest;
use brigade_core::VmId;
use serde_json::Value;

use super::{ok, ApiError, ApiJson, ApiQuery, ApiResult};
use crate::error::NodeError;
use crate::node::Node;

/// What each route of this file requires, checked before its handler runs (and again,
/// with the storage of the archive, where the operation runs).
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    (
        "POST",
        "/nodes/{node}/vzdump",
        Requirement::And(&[
            Requirement::perm("/vms/{vmid}", &[P::VmBackup]),
            Requirement::perm("/storage/{storage}", &[P::DatastoreAllocateSpace]),
        ]),
    ),
    (
        "GET",
        "/nodes/{node}/storage/{storage}/content",
        Requirement::perm_any(
            "/storage/{storage}",
            &[P::DatastoreAudit, P::DatastoreAllocateSpace],
        ),
    ),
    (
        "POST",
        "/nodes/{node}/qmrestore",
        Requirement::perm("/vms/{vmid}", &[P::VmAllocate]),
    ),
    (
        "POST",
        "/nodes/{node}/storage/{storage}/verify",
        Requirement::perm("/storage/{storage}", &[P::DatastoreAudit]),
    ),
    (
        "POST",
        "/nodes/{node}/storage/{storage}/prunebackups",
        Requirement::perm("/storage/{storage}", &[P::DatastoreAllocate]),
    ),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/nodes/{node}/vzdump", post(vzdump))
        .route("/nodes/{node}/storage/{storage}/content", get(content))
        .route("/nodes/{node}/qmrestore", post(qmrestore))
        .route("/nodes/{node}/storage/{storage}/verify", post(verify))
        .route("/nodes/{node}/storage/{storage}/prunebackups", post(prune))
}

/// `localhost` means the node answering, as in Proxmox's API.
fn node_name(node: &Node, name: String) -> String {
    if name == "localhost" {
        node.config.name.to_string()
    } else {
        name
    }
}

fn vmid(n: u32) -> Result<VmId, ApiError> {
    VmId::try_from(n).map_err(|e| ApiError(NodeError::Format(e)))
}

async fn run_on(node: &Arc<Node>, caller: &Authid, on: &str, backup: BackupOp) -> ApiResult<Value> {
    Ok(ok(node
        .guest_on_as(caller, on, GuestRequest::Backup { backup })
        .await?))
}

/// Backs up the guest on the node that runs it, whatever node the path names (as the
/// other guest operations, it is forwarded there).
async fn vzdump(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path(_name): Path<String>,
    ApiJson(body): ApiJson<VzdumpRequest>,
) -> ApiResult<Value> {
    let v = vmid(body.vmid)?;
    let rt = node.require_cluster()?;
    let l = crate::guests::find_guest(&rt.cfs, v)
        .ok_or_else(|| ApiError(crate::access::guest_rules::no_such_guest(None, v)))?;
    let op = BackupOp::Run {
        vmid: v,
        storage: body.storage,
        mode: body.mode,
        bwlimit: body.bwlimit,
    };
    run_on(&node, &caller, &l.node, op).await
}

async fn content(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, storage)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<ContentQuery>,
) -> ApiResult<Value> {
    if let Some(c) = q.content.as_deref().filter(|c| *c != "backup") {
        return Err(ApiError(NodeError::Invalid(format!(
            "content {c:?} is not listed here: only content=backup"
        ))));
    }
    let on = node_name(&node, name);
    let op = BackupOp::List {
        storage,
        vmid: q.vmid,
    };
    run_on(&node, &caller, &on, op).await
}

async fn qmrestore(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<RestoreRequest>,
) -> ApiResult<Value> {
    let on = node_name(&node, name);
    let op = BackupOp::Restore {
        vmid: vmid(body.vmid)?,
        archive: body.archive,
        storage: body.storage,
        force: body.force,
    };
    run_on(&node, &caller, &on, op).await
}

async fn verify(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, storage)): Path<(String, String)>,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> ApiResult<Value> {
    let on = node_name(&node, name);
    let op = BackupOp::Verify {
        storage,
        volid: body.volid,
    };
    run_on(&node, &caller, &on, op).await
}

async fn prune(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, storage)): Path<(String, String)>,
    ApiJson(request): ApiJson<PruneRequest>,
) -> ApiResult<Value> {
    let on = node_name(&node, name);
    run_on(&node, &caller, &on, BackupOp::Prune { storage, request }).await
}
