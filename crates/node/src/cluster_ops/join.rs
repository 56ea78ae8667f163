//! The joining side of `cluster join`: apply to a member with a token, take what it grants, wait to vote.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use brigade_core::poll_until;
use brigade_net::pki;
use brigade_net::{http_client, tls};

use crate::error::NodeError;
use crate::join_token::JoinToken;
use crate::node::{ClusterRuntime, Node};
use crate::state_dir::Membership;
use brigade_api::cluster::*;
use brigade_api::ErrorBody;

use super::{read_cluster_conf, JOIN_REQUEST_TIMEOUT, JOIN_SETTLE_POLL, JOIN_SETTLE_TIMEOUT};

impl Node {
    /// `cluster join` as a task (`clusterjoin`), kept in this node's task list.
    pub async fn join_cluster_task(
        self: &Arc<Self>,
        req: JoinRequest,
    ) -> Result<JoinResult, NodeError> {
        let me = self.clone();
        let first = format!("joining the cluster through {}", req.address);
        let (_, out) = self
            .guests
            .tasks
            .run("clusterjoin", "", &first, move |task| async move {
                let joined = me.join_cluster(req).await?;
                task.log(format!("joined cluster {}", joined.cluster));
                Ok(joined)
            })
            .await;
        out
    }

    /// `cluster join ADDR --token T`: this (new) node applies to a member and joins.
    pub async fn join_cluster(self: &Arc<Self>, req: JoinRequest) -> Result<JoinResult, NodeError> {
        let _guard = self.lifecycle.lock().await;
        if let Some(rt) = self.cluster() {
            return Err(NodeError::AlreadyInCluster(rt.membership.cluster.clone()));
        }
        let token = JoinToken::decode(&req.token).map_err(NodeError::from)?;
        let target: SocketAddr = match req.address.parse::<SocketAddr>() {
            Ok(sa) => sa,
            Err(_) => match req.address.parse::<IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, crate::config::DEFAULT_API_PORT),
                Err(_) => {
                    return Err(NodeError::Invalid(format!(
                        "invalid address {:?}: expected IP or IP:PORT",
                        req.address
                    )))
                }
            },
        };
        let client_tls =
            tls::pinned_ca_client_config(&token.ca_fingerprint).map_err(NodeError::internal)?;
        let client = http_client::build(
            client_tls,
            Some(self.config.address),
            Some(JOIN_REQUEST_TIMEOUT),
        )
        .map_err(NodeError::internal)?;
        let application = JoinApplication {
            token_id: token.id.clone(),
            secret: token.secret.clone(),
            name: self.config.name.to_string(),
            address: self.config.address.to_string(),
            api_port: self.config.api_port,
            api_address: self.config.api_address.map(|ip| ip.to_string()),
            rpc_port: self.config.rpc_port,
            link1: self.config.link1.map(|ip| ip.to_string()),
            qdevice: self.config.qdevice,
        };
        let resp = client
            .post(format!("https://{target}/api2/json/cluster/join/request"))
            .header(
                crate::format_version::FORMAT_HEADER,
                crate::format_version::announced().to_string(),
            )
            .header(
                crate::format_version::FORMATS_HEADER,
                crate::format_version::supported().header(),
            )
            .json(&application)
            .send()
            .await
            .map_err(|e| join_transport_error(target, &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(NodeError::peer(format!("reading the answer of {target}")))?;
        if !status.is_success() {
            let body: ErrorBody = serde_json::from_slice(&bytes).map_err(|_| {
                NodeError::Upstream(format!(
                    "{target} refused the join: HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes)
                ))
            })?;
            return Err(NodeError::from(body));
        }
        let grant: JoinGrant = serde_json::from_slice::<brigade_api::Data<JoinGrant>>(&bytes)
            .map_err(NodeError::peer("bad join answer"))?
            .data;
        let fp = pki::fingerprint_pem(&grant.ca_pem).map_err(NodeError::internal)?;
        if fp != token.ca_fingerprint {
            return Err(NodeError::Unauthorized(
                "the cluster's CA does not match the join token".into(),
            ));
        }
        let cert = pki::CertPair {
            cert_pem: grant.cert_pem.clone(),
            key_pem: grant.key_pem.clone(),
        };
        let membership = Membership {
            cluster: grant.cluster.clone(),
            node_id: grant.node_id,
        };
        self.state
            .save_node_tls(&cert, &grant.ca_pem)
            .map_err(NodeError::internal)?;
        self.state
            .save_membership(&membership)
            .map_err(NodeError::internal)?;
        let rt = self.start_cluster(membership, &cert, &grant.ca_pem).await?;
        let deadline = Instant::now() + JOIN_SETTLE_TIMEOUT;
        // Return once this node votes, or is a learner because max_voters is reached.
        let settled = |rt: &ClusterRuntime| {
            if !(rt.cfs.is_initialized() && rt.cfs.is_quorate()) {
                return false;
            }
            let status = rt.cfs.status();
            let voters = status.members.iter().filter(|m| m.voter).count();
            let me_voter = status
                .members
                .iter()
                .any(|m| m.id == rt.membership.node_id && m.voter);
            let max_voters = read_cluster_conf(&rt.cfs)
                .map(|c| c.max_voters as usize)
                .unwrap_or(usize::MAX);
            me_voter || voters >= max_voters
        };
        poll_until(deadline, JOIN_SETTLE_POLL, || std::future::ready(settled(&rt)))
            .await
            .map_err(|_| {
                NodeError::Upstream(
                    "joined, but the cluster has not replicated to this node yet; check 'brigade cluster status'".into(),
                )
            })?;
        tracing::info!(cluster = %grant.cluster, node_id = grant.node_id, "joined cluster");
        Ok(JoinResult {
            cluster: grant.cluster,
            node_id: grant.node_id,
        })
    }
}

/// Why a join application did not get through: a CA that is not the token's is named
/// as such (the member answered, with another cluster's certificate), not "cannot reach".
pub(super) fn join_transport_error(target: SocketAddr, e: &reqwest::Error) -> NodeError {
    if brigade_net::tls::pin_mismatch(e).is_some() {
        return NodeError::Unauthorized(format!(
            "the cluster's CA fingerprint does not match the token: {target} presents a CA other than the one the join token pins (a token of another cluster, or an altered one)"
        ));
    }
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    NodeError::Upstream(format!("cannot reach {target}: {message}"))
}
