//! Per-node SDN status (`nodes/<node>/sdn-status.json`): the applied version and its errors.

use serde::{Deserialize, Serialize};

use crate::apply::ApplyReport;

/// The path of `node`'s SDN status in the replicated tree.
pub fn status_path(node: &str) -> String {
    format!("nodes/{node}/sdn-status.json")
}

/// What one node reports after an apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSdnStatus {
    pub node: String,
    /// The [`crate::config::SdnConfig::version`] last applied without error.
    pub applied_version: Option<String>,
    /// The version last tried.
    pub attempted_version: Option<String>,
    /// Errors of the last attempt (empty when it succeeded).
    pub errors: Vec<String>,
    /// How many steps the last attempt ran.
    pub steps: usize,
    /// The node's VXLAN underlay address (what other nodes use when a zone lists no peers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay: Option<std::net::Ipv4Addr>,
}

/// What `sdn status` shows for one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// The cluster's current version is applied.
    Available,
    /// Another version is applied (or none yet).
    Pending,
    /// The last attempt failed.
    Error,
}

impl NodeSdnStatus {
    /// The status after an attempt to apply `version` (the outcome `result`, a refused
    /// configuration being the error).
    pub fn record(
        mut self,
        version: &str,
        result: &Result<ApplyReport, crate::SdnError>,
    ) -> NodeSdnStatus {
        self.attempted_version = Some(version.to_string());
        match result {
            Ok(report) if report.ok() => {
                self.applied_version = Some(version.to_string());
                self.errors.clear();
                self.steps = report.steps.len();
            }
            Ok(report) => {
                self.errors = report.errors();
                self.steps = report.steps.len();
            }
            Err(e) => {
                self.errors = vec![e.to_string()];
                self.steps = 0;
            }
        }
        self
    }

    /// This node's state against the cluster's current `version`.
    pub fn state(&self, version: &str) -> NodeState {
        if !self.errors.is_empty() && self.attempted_version.as_deref() == Some(version) {
            NodeState::Error
        } else if self.applied_version.as_deref() == Some(version) {
            NodeState::Available
        } else {
            NodeState::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::StepResult;

    #[test]
    fn records_versions_and_errors() {
        let ok = Ok(ApplyReport::default());
        let s = NodeSdnStatus {
            node: "n1".into(),
            ..Default::default()
        }
        .record("v1", &ok);
        assert_eq!(s.state("v1"), NodeState::Available);
        assert_eq!(s.state("v2"), NodeState::Pending);
        let failed = Ok(ApplyReport {
            steps: vec![StepResult {
                step: "create v1".into(),
                commands: vec![],
                error: Some("boom".into()),
            }],
        });
        let s = s.record("v2", &failed);
        assert_eq!(s.state("v2"), NodeState::Error);
        assert_eq!(s.applied_version.as_deref(), Some("v1"));
        assert_eq!(s.errors, vec!["create v1: boom"]);
        let refused = Err(crate::SdnError::Invalid(
            vec!["vnet a: unknown zone".into()],
        ));
        let s = s.record("v3", &refused);
        assert!(s.errors[0].contains("unknown zone"));
        let json = serde_json::to_string(&s).expect("json");
        assert_eq!(
            serde_json::from_str::<NodeSdnStatus>(&json).expect("back"),
            s
        );
        assert_eq!(status_path("n1"), "nodes/n1/sdn-status.json");
    }
}
