//! `/cluster/ha/rules` (like Proxmox VE 9's): list, add, change and remove HA rules.

use brigade_access::requirement::Requirement;
use brigade_access::Privilege as P;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use super::{ok, ApiJson, ApiResult};
use crate::node::Node;
use brigade_api::ha_rules::{RuleRequest, RuleRow};

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    (
        "GET",
        "/cluster/ha/rules",
        Requirement::perm("/", &[P::SysAudit]),
    ),
    (
        "POST",
        "/cluster/ha/rules",
        Requirement::perm("/", &[P::SysConsole]),
    ),
    (
        "GET",
        "/cluster/ha/rules/{rule}",
        Requirement::perm("/", &[P::SysAudit]),
    ),
    (
        "PUT",
        "/cluster/ha/rules/{rule}",
        Requirement::perm("/", &[P::SysConsole]),
    ),
    (
        "DELETE",
        "/cluster/ha/rules/{rule}",
        Requirement::perm("/", &[P::SysConsole]),
    ),
];

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/cluster/ha/rules", get(list).post(add))
        .route("/cluster/ha/rules/{rule}", get(one).put(set).delete(remove))
}

async fn list(State(node): State<Arc<Node>>) -> ApiResult<Vec<RuleRow>> {
    Ok(ok(node.ha_rules_list()?))
}

async fn one(State(node): State<Arc<Node>>, Path(rule): Path<String>) -> ApiResult<RuleRow> {
    let row = node
        .ha_rules_list()?
        .into_iter()
        .find(|r| r.rule == rule)
        .ok_or_else(|| {
            crate::error::NodeError::NotFound(format!("HA rule {rule:?} does not exist"))
        })?;
    Ok(ok(row))
}

async fn add(
    State(node): State<Arc<Node>>,
    ApiJson(req): ApiJson<RuleRequest>,
) -> ApiResult<RuleRow> {
    Ok(ok(node.ha_rule_add(req).await?))
}

async fn set(
    State(node): State<Arc<Node>>,
    Path(rule): Path<String>,
    ApiJson(req): ApiJson<RuleRequest>,
) -> ApiResult<RuleRow> {
    Ok(ok(node.ha_rule_set(&rule, req).await?))
}

async fn remove(State(node): State<Arc<Node>>, Path(rule): Path<String>) -> ApiResult<Value> {
    node.ha_rule_remove(&rule).await?;
    Ok(ok(serde_json::json!({ "removed": rule })))
}
