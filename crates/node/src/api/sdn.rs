//! `/cluster/sdn/...` (like Proxmox VE's): zones, vnets and subnets (pending until
//! applied), `PUT /cluster/sdn` (apply), the status per node; `/nodes/{node}/network`.

use brigade_access::requirement::Requirement;
use brigade_access::Privilege as P;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::Router;
use brigade_api::ha::Removed;
use brigade_api::sdn::{
    NetworkRow, SdnApplied, SdnStatus, SubnetRequest, SubnetRow, VnetRequest, VnetRow, ZoneRequest,
    ZoneRow,
};

use super::{ok, ApiJson, ApiResult};
use crate::error::NodeError;
use crate::node::Node;

const AUDIT: Requirement = Requirement::perm("/sdn", &[P::SdnAudit]);
const ALLOCATE: Requirement = Requirement::perm("/sdn", &[P::SdnAllocate]);

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    ("GET", "/cluster/sdn/zones", AUDIT),
    ("POST", "/cluster/sdn/zones", ALLOCATE),
    ("GET", "/cluster/sdn/zones/{zone}", AUDIT),
    ("PUT", "/cluster/sdn/zones/{zone}", ALLOCATE),
    ("DELETE", "/cluster/sdn/zones/{zone}", ALLOCATE),
    ("GET", "/cluster/sdn/vnets", AUDIT),
    ("POST", "/cluster/sdn/vnets", ALLOCATE),
    ("GET", "/cluster/sdn/vnets/{vnet}", AUDIT),
    ("PUT", "/cluster/sdn/vnets/{vnet}", ALLOCATE),
    ("DELETE", "/cluster/sdn/vnets/{vnet}", ALLOCATE),
    ("GET", "/cluster/sdn/subnets", AUDIT),
    ("POST", "/cluster/sdn/subnets", ALLOCATE),
    ("GET", "/cluster/sdn/subnets/{id}", AUDIT),
    ("PUT", "/cluster/sdn/subnets/{id}", ALLOCATE),
    ("DELETE", "/cluster/sdn/subnets/{id}", ALLOCATE),
    ("PUT", "/cluster/sdn", ALLOCATE),
    ("GET", "/cluster/sdn/status", AUDIT),
    (
        "GET",
        "/nodes/{node}/network",
        Requirement::perm("/nodes/{node}", &[P::SysAudit]),
    ),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/cluster/sdn", put(apply))
        .route("/cluster/sdn/status", get(status))
        .route("/cluster/sdn/zones", get(zones).post(zone_add))
        .route(
            "/cluster/sdn/zones/{zone}",
            get(zone).put(zone_set).delete(zone_remove),
        )
        .route("/cluster/sdn/vnets", get(vnets).post(vnet_add))
        .route(
            "/cluster/sdn/vnets/{vnet}",
            get(vnet).put(vnet_set).delete(vnet_remove),
        )
        .route("/cluster/sdn/subnets", get(subnets).post(subnet_add))
        .route(
            "/cluster/sdn/subnets/{id}",
            get(subnet).put(subnet_set).delete(subnet_remove),
        )
        .route("/nodes/{node}/network", get(network))
}

fn missing(what: &str, id: &str) -> NodeError {
    NodeError::NotFound(format!("{what} {id:?} does not exist"))
}

fn removed(id: String) -> Removed {
    Removed { removed: id }
}

async fn apply(State(node): State<Arc<Node>>) -> ApiResult<SdnApplied> {
    Ok(ok(node.sdn_apply().await?))
}

async fn status(State(node): State<Arc<Node>>) -> ApiResult<SdnStatus> {
    Ok(ok(node.sdn_status()?))
}

async fn zones(State(node): State<Arc<Node>>) -> ApiResult<Vec<ZoneRow>> {
    Ok(ok(node.sdn_zones()?))
}

async fn zone(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult<ZoneRow> {
    let row = node.sdn_zones()?.into_iter().find(|z| z.zone == id);
    Ok(ok(row.ok_or_else(|| missing("zone", &id))?))
}

async fn zone_add(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<ZoneRequest>,
) -> ApiResult<ZoneRow> {
    Ok(ok(node.sdn_zone_put(None, &req).await?))
}

async fn zone_set(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ZoneRequest>,
) -> ApiResult<ZoneRow> {
    Ok(ok(node.sdn_zone_put(Some(&id), &req).await?))
}

async fn zone_remove(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult<Removed> {
    node.sdn_zone_remove(&id).await?;
    Ok(ok(removed(id)))
}

async fn vnets(State(node): State<Arc<Node>>) -> ApiResult<Vec<VnetRow>> {
    Ok(ok(node.sdn_vnets()?))
}

async fn vnet(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult<VnetRow> {
    let row = node.sdn_vnets()?.into_iter().find(|v| v.vnet == id);
    Ok(ok(row.ok_or_else(|| missing("vnet", &id))?))
}

async fn vnet_add(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<VnetRequest>,
) -> ApiResult<VnetRow> {
    Ok(ok(node.sdn_vnet_put(None, &req).await?))
}

async fn vnet_set(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<VnetRequest>,
) -> ApiResult<VnetRow> {
    Ok(ok(node.sdn_vnet_put(Some(&id), &req).await?))
}

async fn vnet_remove(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult<Removed> {
    node.sdn_vnet_remove(&id).await?;
    Ok(ok(removed(id)))
}

async fn subnets(State(node): State<Arc<Node>>) -> ApiResult<Vec<SubnetRow>> {
    Ok(ok(node.sdn_subnets()?))
}

async fn subnet(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult<SubnetRow> {
    let row = node.sdn_subnets()?.into_iter().find(|s| s.id == id);
    Ok(ok(row.ok_or_else(|| missing("subnet", &id))?))
}

async fn subnet_add(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<SubnetRequest>,
) -> ApiResult<SubnetRow> {
    Ok(ok(node.sdn_subnet_put(None, &req).await?))
}

async fn subnet_set(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SubnetRequest>,
) -> ApiResult<SubnetRow> {
    Ok(ok(node.sdn_subnet_put(Some(&id), &req).await?))
}

async fn subnet_remove(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult<Removed> {
    node.sdn_subnet_remove(&id).await?;
    Ok(ok(removed(id)))
}

async fn network(
    State(node): State<Arc<Node>>,
    Path(n): Path<String>,
) -> ApiResult<Vec<NetworkRow>> {
    Ok(ok(node.node_network(&n)?))
}
