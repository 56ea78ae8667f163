//! The loop that runs `sdn apply` on this node: it watches [`super::RUNNING_CONFIG`], the
//! node's `network.cfg` and the cluster's nodes; when one changed (or the last attempt
//! failed) it plans and applies in the guest namespace and reports
//! `nodes/<node>/sdn-status.json`. A node that joins applies the running configuration
//! at its first round.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use brigade_cfs::Cfs;
use brigade_sdn::apply::{apply_node, Runner};
use brigade_sdn::node_net::{node_network_path, parse_node_network};
use brigade_sdn::plan::PlanInput;
use brigade_sdn::status::{status_path, NodeSdnStatus};

use super::ops::read_status;
use super::running;
use crate::error::NodeError;
use crate::ha::config_io;
use crate::ha::rules_io::write_op;
use crate::node::{ClusterRuntime, Node};

/// How often the node looks for a new running configuration.
pub const SDN_APPLY_INTERVAL: Duration = Duration::from_secs(1);

/// What one apply was computed from; the same inputs after a success need no new round.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inputs {
    version: String,
    network: String,
    addresses: BTreeMap<String, Ipv4Addr>,
}

/// Every node's underlay address: its own report, else its link0; this node's from node.toml.
fn underlays(
    cfs: &Cfs,
    me: &str,
    mine: Option<Ipv4Addr>,
) -> Result<BTreeMap<String, Ipv4Addr>, NodeError> {
    let conf = crate::cluster_ops::read_cluster_conf(cfs)?;
    let mut out = BTreeMap::new();
    for n in &conf.nodes {
        let name = n.name.to_string();
        let addr = if name == me {
            mine
        } else {
            read_status(cfs, &name).underlay.or(match n.link0 {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
        };
        if let Some(a) = addr {
            out.insert(name, a);
        }
    }
    Ok(out)
}

impl Node {
    pub(crate) fn spawn_sdn_apply(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        let node = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SDN_APPLY_INTERVAL);
            let mut done: Option<Inputs> = None;
            loop {
                tick.tick().await;
                match node.sdn_round(&rt, done.as_ref()).await {
                    Ok(Some(inputs)) => done = Some(inputs),
                    Ok(None) => {}
                    Err(e) => tracing::debug!("sdn apply round: {e}"),
                }
            }
        });
    }

    /// One round: applies when the inputs changed since the last success; the inputs of a
    /// successful apply.
    async fn sdn_round(
        &self,
        rt: &ClusterRuntime,
        done: Option<&Inputs>,
    ) -> Result<Option<Inputs>, NodeError> {
        let Some(run) = running(&rt.cfs)? else {
            return Ok(None);
        };
        let me = self.config.name.to_string();
        let (network, _) = config_io::read(&rt.cfs, &node_network_path(&me))?;
        let underlay = self.config.sdn_underlay();
        let inputs = Inputs {
            version: run.version.clone(),
            network,
            addresses: underlays(&rt.cfs, &me, underlay)?,
        };
        if done == Some(&inputs) {
            return Ok(None);
        }
        let runner = match &self.config.guest_netns {
            Some(ns) => Runner::netns(ns),
            None => Runner::host(),
        };
        let job = inputs.clone();
        let node = me.clone();
        let result = tokio::task::spawn_blocking(move || {
            let cfg = run.config()?;
            let net = parse_node_network(&job.network).map_err(NodeError::failed("network.cfg"))?;
            apply_node(
                &runner,
                &PlanInput {
                    node: &node,
                    network: &net,
                    sdn: &cfg,
                    node_addresses: &job.addresses,
                    link_mtu: None,
                },
            )
            .map_err(NodeError::failed("applying the sdn configuration"))
        })
        .await
        .map_err(NodeError::internal)?;
        let old = read_status(&rt.cfs, &me);
        let mut new = NodeSdnStatus {
            underlay,
            ..old.clone()
        };
        new.node = me.clone();
        let ok = match &result {
            Ok(report) => {
                new = new.record(&inputs.version, &Ok(report.clone()));
                report.ok()
            }
            Err(e) => {
                new.attempted_version = Some(inputs.version.clone());
                new.errors = vec![e.to_string()];
                new.steps = 0;
                false
            }
        };
        if new != old {
            let path = status_path(&me);
            let (_, version) = config_io::read(&rt.cfs, &path)?;
            let text = serde_json::to_string_pretty(&new).map_err(NodeError::internal)?;
            rt.cfs.propose(write_op(&path, text, version)?).await?;
        }
        if ok {
            tracing::info!(version = %inputs.version, steps = new.steps, "sdn configuration applied");
            Ok(Some(inputs))
        } else {
            tracing::warn!(errors = ?new.errors, "sdn apply failed");
            Ok(None)
        }
    }
}
