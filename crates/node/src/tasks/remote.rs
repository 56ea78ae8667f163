//! Task questions answered where the task runs: here, or forwarded over mTLS to the node
//! the UPID (or the path) names; `/cluster/tasks` asks every member, each within a bound.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::TaskFilter;
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::tasks::{ClusterTasks, NodeTasksState, TaskRequest, TaskStatus, TaskStopping};

/// How long a forwarded task question may take.
pub const TASK_FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one member may take to list its tasks for `/cluster/tasks`.
pub const CLUSTER_TASKS_NODE_TIMEOUT: Duration = Duration::from_secs(3);

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, NodeError> {
    serde_json::to_value(v).map_err(NodeError::internal)
}

/// The node a UPID names.
pub fn node_of(upid: &str) -> Result<String, NodeError> {
    upid.parse::<super::Upid>()
        .map(|u| u.node)
        .map_err(|e| NodeError::Invalid(e.to_string()))
}

impl Node {
    /// Answers a task question about this node's tasks.
    pub fn handle_task(&self, req: TaskRequest) -> Result<Value, NodeError> {
        let tasks = &self.guests.tasks;
        match req {
            TaskRequest::List {
                running_only,
                vmid,
                limit,
            } => to_value(tasks.list(&TaskFilter {
                running_only,
                vmid,
                limit,
            })),
            TaskRequest::Status { upid } => to_value(tasks.status(&upid)?),
            TaskRequest::Log { upid, start, limit } => to_value(tasks.log(&upid, start, limit)?),
            TaskRequest::Stop { upid } => {
                tasks.stop(&upid)?;
                to_value(TaskStopping {
                    upid,
                    stopping: true,
                })
            }
        }
    }

    /// Answers a task question on `node`: here, or forwarded to it.
    pub async fn task_on(
        self: &Arc<Self>,
        node: &str,
        req: TaskRequest,
    ) -> Result<Value, NodeError> {
        if node == self.config.name.as_str() {
            return self.handle_task(req);
        }
        let rt = self.require_cluster()?.clone();
        let addr = self.peer_rpc(&rt, node).await?;
        let sent = rt
            .rpc_client
            .post(format!("https://{addr}/node/tasks"))
            .timeout(TASK_FORWARD_TIMEOUT)
            .json(&req)
            .send()
            .await;
        crate::rpc::peer_answer(node, sent).await
    }

    /// Every member's tasks, newest first; a member that does not answer in time is
    /// listed as unreachable.
    pub async fn cluster_tasks(
        self: &Arc<Self>,
        running_only: bool,
        vmid: Option<u32>,
        limit: Option<usize>,
    ) -> Result<ClusterTasks, NodeError> {
        let rt = self.require_cluster()?.clone();
        let conf = crate::cluster_ops::read_cluster_conf(&rt.cfs)?;
        let asks = conf.nodes.iter().map(|n| {
            let me = self.clone();
            let name = n.name.to_string();
            async move {
                let req = TaskRequest::List {
                    running_only,
                    vmid,
                    limit,
                };
                let answer =
                    tokio::time::timeout(CLUSTER_TASKS_NODE_TIMEOUT, me.task_on(&name, req))
                        .await
                        .unwrap_or_else(|_| {
                            Err(NodeError::Upstream(format!(
                                "node {name} did not answer within {} ms",
                                CLUSTER_TASKS_NODE_TIMEOUT.as_millis()
                            )))
                        })
                        .and_then(|v| {
                            serde_json::from_value::<Vec<TaskStatus>>(v)
                                .map_err(NodeError::internal)
                        });
                (name, answer)
            }
        });
        let mut out = ClusterTasks {
            tasks: Vec::new(),
            nodes: Vec::new(),
        };
        for (node, answer) in futures::future::join_all(asks).await {
            match answer {
                Ok(t) => {
                    out.tasks.extend(t);
                    out.nodes.push(NodeTasksState {
                        node,
                        state: "ok".into(),
                        error: None,
                    });
                }
                Err(e) => out.nodes.push(NodeTasksState {
                    node,
                    state: "unreachable".into(),
                    error: Some(brigade_core::error::message_with_causes(&e)),
                }),
            }
        }
        out.tasks.sort_by_key(|t| {
            (
                t.status != brigade_api::tasks::TaskState::Running,
                std::cmp::Reverse(t.starttime),
            )
        });
        if let Some(n) = limit {
            out.tasks.truncate(n);
        }
        Ok(out)
    }
}
