//! `/nodes/{node}/tasks` and `/cluster/tasks`: Proxmox's task list, status, log and stop.
//! A task on another node is asked there (its UPID names the node).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::requirement::Requirement;
use brigade_access::{AclPath, Authid, Permissions, Privilege};
use serde_json::Value;

use super::{ok, ApiError, ApiQuery, ApiResult};
use crate::error::NodeError;
use crate::node::Node;
use crate::tasks::remote::node_of;
use brigade_api::tasks::{ClusterTasks, TaskListQuery, TaskLogQuery, TaskRequest, TaskStatus};

/// What each route of this file requires before its handler runs. Every caller sees and
/// follows its own tasks; the handlers ask `Sys.Audit` on `/nodes/{node}` for others'
/// tasks and `Sys.Modify` there to stop them (Proxmox's rules), and filter the lists.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[
    ("GET", "/cluster/tasks", Requirement::Authenticated),
    ("GET", "/nodes/{node}/tasks", Requirement::Authenticated),
    (
        "GET",
        "/nodes/{node}/tasks/{upid}",
        Requirement::Authenticated,
    ),
    (
        "DELETE",
        "/nodes/{node}/tasks/{upid}",
        Requirement::Authenticated,
    ),
    (
        "GET",
        "/nodes/{node}/tasks/{upid}/status",
        Requirement::Authenticated,
    ),
    (
        "GET",
        "/nodes/{node}/tasks/{upid}/log",
        Requirement::Authenticated,
    ),
];

/// Whether `caller` started the task of `user` (itself, or its user for a token's task
/// and the other way round, as Proxmox lets a user see its tokens' tasks).
fn owns(caller: &Authid, user: &str) -> bool {
    user == caller.to_string()
        || user
            .parse::<Authid>()
            .is_ok_and(|owner| owner.user == caller.user && !caller.is_token())
}

/// Whether `caller` holds `privilege` on `/nodes/{node}`.
fn holds(node: &Node, caller: &Authid, at: &str, privilege: Privilege) -> bool {
    let st = node.access_state();
    let perms = Permissions::new(&st.users, crate::access::now());
    AclPath::node(at).is_ok_and(|path| perms.check(caller, &path, privilege).is_ok())
}

/// The task `upid` for `caller`: its own, or anyone's with `privilege` on its node.
/// A task the caller may not see answers as one that does not exist.
fn may_touch(
    node: &Node,
    caller: &Authid,
    upid: &str,
    privilege: Privilege,
) -> Result<String, ApiError> {
    let at = node_of(upid)?;
    let user = upid.split(':').nth(7).unwrap_or_default();
    if owns(caller, user) || holds(node, caller, &at, privilege) {
        return Ok(at);
    }
    if privilege == Privilege::SysModify && holds(node, caller, &at, Privilege::SysAudit) {
        return Err(ApiError(NodeError::Forbidden(format!(
            "stopping another user's task needs Sys.Modify on /nodes/{at}"
        ))));
    }
    Err(ApiError(NodeError::NotFound(format!("no task {upid}"))))
}

/// Keeps the tasks `caller` may see.
fn visible(node: &Node, caller: &Authid, tasks: Vec<TaskStatus>) -> Vec<TaskStatus> {
    tasks
        .into_iter()
        .filter(|t| owns(caller, &t.user) || holds(node, caller, &t.node, Privilege::SysAudit))
        .collect()
}

/// Log lines answered when the request names no limit (Proxmox's default).
const DEFAULT_LOG_LIMIT: usize = 50;
/// The most log lines one request may ask for.
const MAX_LOG_LIMIT: usize = 100_000;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/cluster/tasks", get(cluster_tasks))
        .route("/nodes/{node}/tasks", get(list))
        .route("/nodes/{node}/tasks/{upid}", get(status).delete(stop))
        .route("/nodes/{node}/tasks/{upid}/status", get(status))
        .route("/nodes/{node}/tasks/{upid}/log", get(log))
}

/// `localhost` means the node answering, as in Proxmox's API.
fn node_name(node: &Node, name: String) -> String {
    if name == "localhost" {
        node.config.name.to_string()
    } else {
        name
    }
}

async fn cluster_tasks(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    ApiQuery(q): ApiQuery<TaskListQuery>,
) -> ApiResult<ClusterTasks> {
    let mut all = node.cluster_tasks(q.running, q.vmid, q.limit).await?;
    all.tasks = visible(&node, &caller, all.tasks);
    Ok(ok(all))
}

pub(super) async fn list(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<TaskListQuery>,
) -> ApiResult<Vec<TaskStatus>> {
    let req = TaskRequest::List {
        running_only: q.running,
        vmid: q.vmid,
        limit: q.limit,
    };
    let answer = node.task_on(&node_name(&node, name), req).await?;
    let tasks: Vec<TaskStatus> = serde_json::from_value(answer).map_err(NodeError::internal)?;
    Ok(ok(visible(&node, &caller, tasks)))
}

async fn status(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((_name, upid)): Path<(String, String)>,
) -> ApiResult<Value> {
    let at = may_touch(&node, &caller, &upid, Privilege::SysAudit)?;
    Ok(ok(node.task_on(&at, TaskRequest::Status { upid }).await?))
}

async fn log(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((_name, upid)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<TaskLogQuery>,
) -> ApiResult<Value> {
    let at = may_touch(&node, &caller, &upid, Privilege::SysAudit)?;
    let req = TaskRequest::Log {
        upid,
        start: q.start.unwrap_or(0),
        limit: q.limit.unwrap_or(DEFAULT_LOG_LIMIT).min(MAX_LOG_LIMIT),
    };
    Ok(ok(node.task_on(&at, req).await?))
}

async fn stop(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((_name, upid)): Path<(String, String)>,
) -> ApiResult<Value> {
    let at = may_touch(&node, &caller, &upid, Privilege::SysModify)?;
    Ok(ok(node.task_on(&at, TaskRequest::Stop { upid }).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_owns_its_tasks_and_a_user_its_tokens_tasks() {
        let alice: Authid = "alice@pve".parse().expect("id");
        let ci: Authid = "alice@pve!ci".parse().expect("id");
        assert!(owns(&alice, "alice@pve"));
        assert!(
            owns(&alice, "alice@pve!ci"),
            "a user sees its tokens' tasks"
        );
        assert!(owns(&ci, "alice@pve!ci"));
        assert!(
            !owns(&ci, "alice@pve"),
            "a token does not see its user's tasks"
        );
        assert!(!owns(&ci, "alice@pve!other"));
        assert!(!owns(&alice, "bob@pve"));
        assert!(!owns(&alice, ""));
    }
}
