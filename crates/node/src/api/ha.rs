//! `/cluster/ha/...` (like Proxmox's): resources, groups, status, migrate; and
//! `/nodes/{node}/maintenance`.

use brigade_access::requirement::Requirement;
use brigade_access::Privilege as P;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Router};
use brigade_access::{Authid, Permissions};
use serde_json::Value;

use super::{ok, ApiJson, ApiResult};
use crate::ha::ops::{GroupRequest, HaStatus, ResourceRequest};
use crate::node::Node;
use brigade_api::ha::{HaMigrateRequest, MaintenanceRequest};

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    ("GET", "/cluster/ha/resources", Requirement::Authenticated),
    (
        "POST",
        "/cluster/ha/resources",
        Requirement::perm("/", &[P::SysConsole]),
    ),
    (
        "PUT",
        "/cluster/ha/resources/{sid}",
        Requirement::perm("/", &[P::SysConsole]),
    ),
    (
        "DELETE",
        "/cluster/ha/resources/{sid}",
        Requirement::perm("/", &[P::SysConsole]),
    ),
    (
        "POST",
        "/cluster/ha/resources/{sid}/migrate",
        Requirement::perm("/", &[P::SysConsole]),
    ),
    (
        "GET",
        "/cluster/ha/groups",
        Requirement::perm("/", &[P::SysAudit]),
    ),
    (
        "POST",
        "/cluster/ha/groups",
        Requirement::perm("/", &[P::SysConsole]),
    ),
    (
        "DELETE",
        "/cluster/ha/groups/{name}",
        Requirement::perm("/", &[P::SysConsole]),
    ),
    ("GET", "/cluster/ha/status", Requirement::Authenticated),
    ("POST", "/nodes/{node}/maintenance", Requirement::Root),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/cluster/ha/resources", get(resources).post(add))
        .route("/cluster/ha/resources/{sid}", put(set).delete(remove))
        .route("/cluster/ha/resources/{sid}/migrate", post(migrate))
        .route("/cluster/ha/groups", get(groups).post(group_add))
        .route("/cluster/ha/groups/{name}", delete(group_remove))
        .route("/cluster/ha/status", get(status))
        .route("/nodes/{node}/maintenance", post(maintenance))
}

/// Whether the caller may see the guest of an HA service (`VM.Audit` on it).
fn may_audit(perms: &Permissions<'_>, caller: &Authid, vmid: brigade_core::VmId) -> bool {
    perms
        .check(caller, &brigade_access::AclPath::vm(vmid), P::VmAudit)
        .is_ok()
}

/// The HA resources whose guests the caller may audit.
async fn resources(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
) -> ApiResult<Value> {
    let rt = node.require_cluster()?;
    let (r, _) = crate::ha::config_io::resources(&rt.cfs)?;
    let st = node.access_state();
    let perms = Permissions::new(&st.users, crate::access::now());
    Ok(ok(serde_json::to_value(
        r.resources
            .into_values()
            .filter(|r| may_audit(&perms, &caller, r.sid.vmid))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default()))
}

async fn add(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<ResourceRequest>,
) -> ApiResult<Value> {
    let r = node.ha_add(req).await?;
    Ok(ok(serde_json::to_value(r).unwrap_or_default()))
}

async fn set(
    State(node): State<Arc<Node>>,
    Path(sid): Path<String>,
    ApiJson(req): ApiJson<ResourceRequest>,
) -> ApiResult<Value> {
    let r = node.ha_set(&sid, req).await?;
    Ok(ok(serde_json::to_value(r).unwrap_or_default()))
}

async fn remove(State(node): State<Arc<Node>>, Path(sid): Path<String>) -> ApiResult<Value> {
    node.ha_remove(&sid).await?;
    Ok(ok(serde_json::json!({ "removed": sid })))
}

async fn migrate(
    State(node): State<Arc<Node>>,
    Path(sid): Path<String>,
    ApiJson(body): ApiJson<HaMigrateRequest>,
) -> ApiResult<Value> {
    node.ha_migrate(&sid, &body.node).await?;
    Ok(ok(
        serde_json::json!({ "requested": sid, "node": body.node }),
    ))
}

async fn groups(State(node): State<Arc<Node>>) -> ApiResult<Value> {
    Ok(ok(
        serde_json::to_value(node.ha_groups()?).unwrap_or_default()
    ))
}

async fn group_add(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<GroupRequest>,
) -> ApiResult<Value> {
    let g = node.ha_group_add(req).await?;
    Ok(ok(serde_json::to_value(g).unwrap_or_default()))
}

async fn group_remove(State(node): State<Arc<Node>>, Path(name): Path<String>) -> ApiResult<Value> {
    node.ha_group_remove(&name).await?;
    Ok(ok(serde_json::json!({ "removed": name })))
}

/// HA status: services whose guests the caller may audit; the LRMs with `Sys.Audit` on `/`.
pub(super) async fn status(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
) -> ApiResult<HaStatus> {
    let mut status = node.ha_status()?;
    let st = node.access_state();
    let perms = Permissions::new(&st.users, crate::access::now());
    status.services.retain(|s| {
        s.sid
            .parse::<brigade_ha::ServiceId>()
            .is_ok_and(|sid| may_audit(&perms, &caller, sid.vmid))
    });
    let root = brigade_access::AclPath::root();
    if perms.check(&caller, &root, P::SysAudit).is_err() {
        status.nodes.clear();
    }
    Ok(ok(status))
}

async fn maintenance(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<MaintenanceRequest>,
) -> ApiResult<Value> {
    node.ha_maintenance(&name, body.enable).await?;
    Ok(ok(
        serde_json::json!({ "node": name, "maintenance": body.enable }),
    ))
}
