//! Task calls: list (one node or the cluster), status, log, stop.

use brigade_api::tasks::{ClusterTasks, TaskLogLine, TaskStatus};
use brigade_api::ErrorKind;
use serde_json::Value;

use crate::{Client, ClientError};

/// Which tasks a list asks for.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    pub running: bool,
    pub vmid: Option<u32>,
    pub limit: Option<usize>,
}

impl TaskQuery {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if self.running {
            q.push(("running", "1".to_string()));
        }
        if let Some(v) = self.vmid {
            q.push(("vmid", v.to_string()));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        q
    }
}

/// The node a UPID names (`UPID:node:...`).
pub fn upid_node(upid: &str) -> Result<&str, ClientError> {
    upid.strip_prefix("UPID:")
        .and_then(|r| r.split(':').next())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ClientError::Api {
            status: 400,
            kind: ErrorKind::Invalid,
            message: format!("malformed task id {upid:?}: expected UPID:node:..."),
        })
}

impl Client {
    async fn get_q<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        q: &[(&'static str, String)],
    ) -> Result<T, ClientError> {
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.get(path, &q).await
    }

    /// The tasks of `node`, running first, then newest first.
    pub async fn task_list(
        &self,
        node: &str,
        q: &TaskQuery,
    ) -> Result<Vec<TaskStatus>, ClientError> {
        self.get_q(&format!("/nodes/{node}/tasks"), &q.pairs())
            .await
    }

    /// Every member's tasks, and which members could not be asked.
    pub async fn cluster_tasks(&self, q: &TaskQuery) -> Result<ClusterTasks, ClientError> {
        self.get_q("/cluster/tasks", &q.pairs()).await
    }

    /// A task's status (asked on the node its UPID names).
    pub async fn task_status(&self, node: &str, upid: &str) -> Result<TaskStatus, ClientError> {
        self.get(&format!("/nodes/{node}/tasks/{upid}/status"), &[])
            .await
    }

    /// Lines `start..start+limit` of a task's log.
    pub async fn task_log(
        &self,
        upid: &str,
        start: usize,
        limit: usize,
    ) -> Result<Vec<TaskLogLine>, ClientError> {
        let node = upid_node(upid)?;
        self.get_q(
            &format!("/nodes/{node}/tasks/{upid}/log"),
            &[("start", start.to_string()), ("limit", limit.to_string())],
        )
        .await
    }

    /// Asks a running task to stop.
    pub async fn task_stop(&self, upid: &str) -> Result<Value, ClientError> {
        let node = upid_node(upid)?;
        self.delete(&format!("/nodes/{node}/tasks/{upid}")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_of_a_upid() {
        assert_eq!(
            upid_node("UPID:n2:0000A1B2:00000003:65F0C0DE:qmstart:100:root@pam:").expect("node"),
            "n2"
        );
        assert!(upid_node("nope").is_err());
        assert!(upid_node("UPID::x").is_err());
    }
}
