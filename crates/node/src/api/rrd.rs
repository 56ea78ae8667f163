//! `GET /nodes/{node}/rrddata` and `GET /nodes/{node}/{kind}/{vmid}/rrddata`: graph history, from any node.

use brigade_access::requirement::Requirement;
use brigade_access::Privilege as P;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::Authid;
use serde_json::Value;

use super::{ok, ApiQuery, ApiResult};
use crate::node::Node;
use brigade_api::guests::GuestRequest;
use brigade_api::rrd::RrdQuery;

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    (
        "GET",
        "/nodes/{node}/rrddata",
        Requirement::perm("/nodes/{node}", &[P::SysAudit]),
    ),
    (
        "GET",
        "/nodes/{node}/{kind}/{vmid}/rrddata",
        Requirement::perm("/vms/{vmid}", &[P::VmAudit]),
    ),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/nodes/{node}/rrddata", get(node_rrd))
        .route("/nodes/{node}/{kind}/{vmid}/rrddata", get(guest_rrd))
}

/// The node's history, answered by that node.
async fn node_rrd(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<RrdQuery>,
) -> ApiResult<Value> {
    let name = super::guests::node_name(&node, name);
    let req = GuestRequest::NodeRrd {
        timeframe: q.timeframe,
        cf: q.cf.unwrap_or_default(),
    };
    Ok(ok(node.guest_on_as(&caller, &name, req).await?))
}

/// A guest's history, answered by the node that runs it (whichever node the path names).
async fn guest_rrd(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((_name, k, id)): Path<(String, String, String)>,
    ApiQuery(q): ApiQuery<RrdQuery>,
) -> ApiResult<Value> {
    let (kind, vmid) = (super::guests::kind(&k)?, super::guests::vmid(&id)?);
    let owner = node.guest_node(kind, vmid)?;
    let req = GuestRequest::GuestRrd {
        kind,
        vmid,
        timeframe: q.timeframe,
        cf: q.cf.unwrap_or_default(),
    };
    Ok(ok(node.guest_on_as(&caller, &owner, req).await?))
}
