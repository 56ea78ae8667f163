//! `/cluster/...`: create, join tokens, join, nodes, delnode, status, the next free VMID, the cluster log.

use brigade_access::requirement::Requirement;
use brigade_access::Privilege as P;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::Router;

use super::{ok, ApiJson, ApiQuery, ApiResult};
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::cluster::*;

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    ("POST", "/cluster/create", Requirement::Root),
    ("POST", "/cluster/join-token", Requirement::Root),
    ("POST", "/cluster/join", Requirement::Root),
    (
        "GET",
        "/cluster/nodes",
        Requirement::perm("/", &[P::SysAudit]),
    ),
    ("DELETE", "/cluster/nodes/{name}", Requirement::Root),
    ("POST", "/cluster/format/upgrade", Requirement::Root),
    // As Proxmox's: any user may ask (creating the guest checks VM.Allocate).
    ("GET", "/cluster/nextid", Requirement::Authenticated),
    (
        "GET",
        "/cluster/log",
        Requirement::perm("/", &[P::SysAudit]),
    ),
    (
        "GET",
        "/cluster/status",
        Requirement::perm("/", &[P::SysAudit]),
    ),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/cluster/create", post(create))
        .route("/cluster/join-token", post(join_token))
        .route("/cluster/join", post(join))
        .route("/cluster/nodes", get(nodes))
        .route("/cluster/nodes/{name}", delete(delnode))
        .route("/cluster/status", get(status))
        .route("/cluster/format/upgrade", post(format_upgrade))
        .route("/cluster/nextid", get(nextid))
        .route("/cluster/log", get(log))
}

async fn create(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<CreateRequest>,
) -> ApiResult<CreateResult> {
    Ok(ok(node.create_cluster(req).await?))
}

async fn join_token(State(node): State<Arc<Node>>) -> ApiResult<JoinTokenResult> {
    Ok(ok(node.make_join_token().await?))
}

async fn join(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<JoinRequest>,
) -> ApiResult<JoinResult> {
    Ok(ok(node.join_cluster_task(req).await?))
}

async fn nodes(State(node): State<Arc<Node>>) -> ApiResult<Vec<NodeRow>> {
    Ok(ok(node.nodes()?))
}

async fn delnode(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<DelnodeQuery>,
) -> ApiResult<()> {
    node.delnode(&name, q.force).await?;
    Ok(ok(()))
}

async fn status(State(node): State<Arc<Node>>) -> ApiResult<ClusterStatus> {
    Ok(ok(node.status()))
}

async fn format_upgrade(State(node): State<Arc<Node>>) -> ApiResult<FormatUpgradeResult> {
    Ok(ok(node.upgrade_format().await?))
}

/// The lowest VMID no guest has, or whether the one asked about is free.
async fn nextid(
    State(node): State<Arc<Node>>,
    ApiQuery(q): ApiQuery<NextIdQuery>,
) -> ApiResult<NextId> {
    let rt = node.require_cluster()?;
    let used = crate::guests::used_vmids(&rt.cfs);
    let vmid = match q.vmid {
        Some(v) => {
            let v = brigade_core::VmId::try_from(v).map_err(NodeError::Format)?;
            if used.contains(&v.get()) {
                return Err(
                    NodeError::Conflict(format!("VMID {v} is taken by another guest")).into(),
                );
            }
            v
        }
        None => crate::guests::first_free_vmid(&used)
            .ok_or_else(|| NodeError::Conflict("every VMID is taken".into()))?,
    };
    Ok(ok(NextId { vmid: vmid.get() }))
}

/// The newest events of the cluster log (`brigade log`), oldest first.
async fn log(
    State(node): State<Arc<Node>>,
    ApiQuery(q): ApiQuery<ClusterLogQuery>,
) -> ApiResult<Vec<ClusterLogEntry>> {
    let max = q.max.unwrap_or(crate::cluster_log::CLUSTER_LOG_DEFAULT_MAX);
    Ok(ok(node.cluster_log(max)?))
}
