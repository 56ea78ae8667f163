//! `GET /nodes/{node}/qemu/{vmid}/console`: the VM's serial port over an HTTP upgrade,
//! piped to its serial socket here, or through the mTLS tunnel to the node that runs it.

use brigade_access::requirement::Requirement;
use brigade_access::Privilege as P;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_core::layout::GuestKind;
use hyper_util::rt::TokioIo;

use super::ApiError;
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::guests::GuestRequest;

/// The protocol name clients ask for in `Upgrade:`.
pub const CONSOLE_UPGRADE: &str = "brigade-console";

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[(
    "GET",
    "/nodes/{node}/qemu/{vmid}/console",
    Requirement::perm("/vms/{vmid}", &[P::VmConsole]),
)];

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/nodes/{node}/qemu/{vmid}/console", get(console))
}

/// Checks that `caller` may attach to VM `id` on node `name` and that it runs there:
/// VM.Console is checked again by the node that runs it (the sealed identity travels with
/// the request; the raw console tunnel itself carries no identity). The node's name
/// (`localhost` resolved) and the VMID.
pub(super) async fn may_attach(
    node: &Arc<Node>,
    caller: &Authid,
    name: String,
    id: &str,
) -> Result<(String, brigade_core::VmId), ApiError> {
    let vmid: brigade_core::VmId = id.parse().map_err(|e| ApiError(NodeError::Format(e)))?;
    let name = if name == "localhost" {
        node.config.name.to_string()
    } else {
        name
    };
    node.guest_on_as(
        caller,
        &name,
        GuestRequest::ConsoleLog {
            kind: GuestKind::Qemu,
            vmid,
            tail_bytes: Some(0),
        },
    )
    .await?;
    let status = node
        .guest_on(
            &name,
            GuestRequest::Status {
                kind: GuestKind::Qemu,
                vmid,
            },
        )
        .await?;
    if status.get("status").and_then(|s| s.as_str()) != Some("running") {
        return Err(ApiError(NodeError::Conflict(format!(
            "VM {vmid} is not running: no console to attach to"
        ))));
    }
    Ok((name, vmid))
}

async fn console(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, id)): Path<(String, String)>,
    mut req: Request,
) -> Result<Response, ApiError> {
    let (name, vmid) = may_attach(&node, &caller, name, &id).await?;
    let on_upgrade = req
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| {
            ApiError(NodeError::Invalid(format!(
                "the console needs an HTTP upgrade: send 'Connection: Upgrade' and 'Upgrade: {CONSOLE_UPGRADE}'"
            )))
        })?;
    let me = node.clone();
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("console upgrade failed: {e}");
                return;
            }
        };
        if let Err(e) = me.pipe_console(&name, vmid, TokioIo::new(upgraded)).await {
            tracing::debug!(vmid = vmid.get(), "console ended: {e}");
        }
    });
    Ok((
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, "upgrade"),
            (header::UPGRADE, CONSOLE_UPGRADE),
        ],
    )
        .into_response())
}
