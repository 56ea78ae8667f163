//! `/nodes/{node}/{qemu,lxc}/...` and `/cluster/resources`: guests, as Proxmox's API
//! lays them out. Requests for another node are forwarded to it over mTLS.

use crate::access::guest_rules::VM_CONFIG_PRIVILEGES;
use brigade_access::requirement::Requirement;
use brigade_access::Privilege as P;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use brigade_access::{Authid, Permissions};
use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use serde_json::Value;

use super::{ok, ApiError, ApiJson, ApiQuery, ApiResult};
use crate::access::guest_rules::no_such_guest;
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::guests::{
    ConsoleLogQuery, CreateGuestRequest, GuestLocation, GuestRequest, GuestRow, MigrateRequest,
    PowerRequest, SetConfigRequest,
};

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    ("GET", "/cluster/resources", Requirement::Authenticated),
    ("GET", "/cluster/guests/{vmid}", Requirement::Authenticated),
    (
        "POST",
        "/nodes/{node}/{kind}",
        Requirement::perm("/vms/{vmid}", &[P::VmAllocate]),
    ),
    (
        "DELETE",
        "/nodes/{node}/{kind}/{vmid}",
        Requirement::perm("/vms/{vmid}", &[P::VmAllocate]),
    ),
    (
        "GET",
        "/nodes/{node}/{kind}/{vmid}/status/current",
        Requirement::perm("/vms/{vmid}", &[P::VmAudit]),
    ),
    (
        "POST",
        "/nodes/{node}/{kind}/{vmid}/status/{action}",
        Requirement::perm("/vms/{vmid}", &[P::VmPowerMgmt]),
    ),
    (
        "GET",
        "/nodes/{node}/{kind}/{vmid}/config",
        Requirement::perm("/vms/{vmid}", &[P::VmAudit]),
    ),
    (
        "PUT",
        "/nodes/{node}/{kind}/{vmid}/config",
        Requirement::perm_any("/vms/{vmid}", VM_CONFIG_PRIVILEGES),
    ),
    (
        "POST",
        "/nodes/{node}/{kind}/{vmid}/migrate",
        Requirement::perm("/vms/{vmid}", &[P::VmMigrate]),
    ),
    (
        "GET",
        "/nodes/{node}/{kind}/{vmid}/migrate",
        Requirement::perm("/vms/{vmid}", &[P::VmMigrate]),
    ),
    (
        "GET",
        "/nodes/{node}/{kind}/{vmid}/console-log",
        Requirement::perm("/vms/{vmid}", &[P::VmConsole]),
    ),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/cluster/resources", get(resources))
        .route("/cluster/guests/{vmid}", get(where_is))
        .route("/nodes/{node}/{kind}", post(create))
        .route(
            "/nodes/{node}/{kind}/{vmid}",
            axum::routing::delete(destroy),
        )
        .route("/nodes/{node}/{kind}/{vmid}/status/current", get(status))
        .route("/nodes/{node}/{kind}/{vmid}/status/{action}", post(power))
        .route(
            "/nodes/{node}/{kind}/{vmid}/config",
            get(config).put(set_config),
        )
        .route(
            "/nodes/{node}/{kind}/{vmid}/migrate",
            get(migrate_targets).post(migrate),
        )
        .route("/nodes/{node}/{kind}/{vmid}/console-log", get(console_log))
}

/// `localhost` means the node answering, as in Proxmox's API.
pub(super) fn node_name(node: &Node, name: String) -> String {
    if name == "localhost" {
        node.config.name.to_string()
    } else {
        name
    }
}

pub(super) fn kind(s: &str) -> Result<GuestKind, ApiError> {
    match s {
        "qemu" => Ok(GuestKind::Qemu),
        "lxc" => Ok(GuestKind::Lxc),
        other => Err(ApiError(NodeError::NotFound(format!(
            "no such guest type {other:?} (qemu or lxc)"
        )))),
    }
}

pub(super) fn vmid(s: &str) -> Result<VmId, ApiError> {
    s.parse().map_err(|e| ApiError(NodeError::Format(e)))
}

/// Every guest the caller may see (any `VM.*` privilege on it).
pub(super) async fn resources(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
) -> ApiResult<Vec<GuestRow>> {
    let rows = node.cluster_resources().await?;
    let st = node.access_state();
    let perms = Permissions::new(&st.users, crate::access::now());
    Ok(ok(rows
        .into_iter()
        .filter(|r| {
            brigade_core::VmId::try_from(r.vmid).is_ok_and(|v| perms.may_see_vm(&caller, v))
        })
        .collect()))
}

async fn where_is(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path(id): Path<String>,
) -> ApiResult<GuestLocation> {
    let v = vmid(&id)?;
    let rt = node.require_cluster()?;
    let st = node.access_state();
    let visible = Permissions::new(&st.users, crate::access::now()).may_see_vm(&caller, v);
    let l = crate::guests::find_guest(&rt.cfs, v)
        .filter(|_| visible)
        .ok_or_else(|| ApiError(no_such_guest(None, v)))?;
    Ok(ok(GuestLocation {
        node: l.node,
        kind: l.kind,
        vmid: v.get(),
    }))
}

async fn create(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, k)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreateGuestRequest>,
) -> ApiResult<Value> {
    let req = GuestRequest::Create {
        kind: kind(&k)?,
        vmid: body.vmid,
        params: body.config,
        ostemplate: body.ostemplate,
        start: body.start,
    };
    Ok(ok(node
        .guest_on_as(&caller, &node_name(&node, name), req)
        .await?))
}

async fn destroy(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, k, id)): Path<(String, String, String)>,
) -> ApiResult<Value> {
    let req = GuestRequest::Destroy {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
    };
    Ok(ok(node
        .guest_on_as(&caller, &node_name(&node, name), req)
        .await?))
}

async fn status(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, k, id)): Path<(String, String, String)>,
) -> ApiResult<Value> {
    let req = GuestRequest::Status {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
    };
    Ok(ok(node
        .guest_on_as(&caller, &node_name(&node, name), req)
        .await?))
}

async fn power(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, k, id, action)): Path<(String, String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Value> {
    let (kind, vmid) = (kind(&k)?, vmid(&id)?);
    // The body is optional: empty means defaults.
    let body: PowerRequest = if body.iter().all(u8::is_ascii_whitespace) {
        PowerRequest::default()
    } else {
        super::body::parse_json(&body).map_err(ApiError)?
    };
    body.check()
        .map_err(|e| ApiError(NodeError::Invalid(e.to_string())))?;
    let req = match action.as_str() {
        "start" => GuestRequest::Start { kind, vmid },
        "stop" => GuestRequest::Stop { kind, vmid },
        "reboot" => GuestRequest::Reboot { kind, vmid },
        "shutdown" => GuestRequest::Shutdown {
            kind,
            vmid,
            timeout_secs: body.timeout,
            force_stop: body.force_stop,
        },
        other => {
            return Err(ApiError(NodeError::NotFound(format!(
                "no such action {other:?} (start, stop, shutdown, reboot)"
            ))))
        }
    };
    Ok(ok(node
        .guest_on_as(&caller, &node_name(&node, name), req)
        .await?))
}

async fn config(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, k, id)): Path<(String, String, String)>,
) -> ApiResult<Value> {
    let req = GuestRequest::Config {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
    };
    Ok(ok(node
        .guest_on_as(&caller, &node_name(&node, name), req)
        .await?))
}

async fn set_config(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, k, id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<SetConfigRequest>,
) -> ApiResult<Value> {
    let req = GuestRequest::SetConfig {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
        set: body.set,
        delete: body.delete,
        digest: body.digest,
    };
    Ok(ok(node
        .guest_on_as(&caller, &node_name(&node, name), req)
        .await?))
}

async fn migrate(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, k, id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<MigrateRequest>,
) -> ApiResult<Value> {
    let req = GuestRequest::Migrate {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
        target: body.target,
        online: body.online,
    };
    Ok(ok(node
        .guest_on_as(&caller, &node_name(&node, name), req)
        .await?))
}

/// Which nodes can take the guest now, and why the others cannot.
async fn migrate_targets(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, k, id)): Path<(String, String, String)>,
) -> ApiResult<Value> {
    let req = GuestRequest::MigrateTargets {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
    };
    Ok(ok(node
        .guest_on_as(&caller, &node_name(&node, name), req)
        .await?))
}

async fn console_log(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, k, id)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<ConsoleLogQuery>,
) -> ApiResult<Value> {
    let req = GuestRequest::ConsoleLog {
        kind: kind(&k)?,
        vmid: vmid(&id)?,
        tail_bytes: q.tail,
    };
    Ok(ok(node
        .guest_on_as(&caller, &node_name(&node, name), req)
        .await?))
}
