//! The leader side of a join: checks the application and grants the new member its place.

use std::net::{IpAddr, SocketAddr};

use brigade_cfs::{CfsError, Member, Op};
use brigade_core::layout;
use brigade_net::pki;

use crate::error::NodeError;
use crate::join_token::StoredJoinToken;
use crate::node::{cfs_path, ClusterRuntime, Node};
use brigade_api::cluster::*;

use super::admission::{admit, token_opens, Admitted};
use super::{read_cluster_conf_versioned, read_text, write_op};

impl Node {
    pub(super) async fn grant_join(
        &self,
        rt: &ClusterRuntime,
        app: JoinApplication,
    ) -> Result<JoinGrant, NodeError> {
        let cfs = &rt.cfs;
        let refused =
            || NodeError::Unauthorized("invalid, expired or already used join token".into());
        if app.token_id.is_empty() || !app.token_id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(refused());
        }
        let token_path = format!("{}/{}", layout::JOIN_TOKENS_DIR, app.token_id);
        let stored_file = cfs.read(&cfs_path(&token_path)?).map_err(|_| refused())?;
        let stored: StoredJoinToken =
            serde_json::from_slice(&stored_file.data).map_err(|_| refused())?;
        if !token_opens(&stored, &app.secret, brigade_core::unix_now_secs()) {
            return Err(refused());
        }
        let (mut conf, conf_version) = read_cluster_conf_versioned(cfs)?;
        let Admitted {
            name,
            address,
            link1,
            api_address,
            nodeid,
        } = admit(&mut conf, &app)?;
        let (ca_key, _) = read_text(cfs, layout::CA_KEY)?;
        let mut ips: Vec<IpAddr> = std::iter::once(address).chain(link1).collect();
        ips.extend(api_address.filter(|a| !ips.contains(a)));
        let cert = pki::issue_node_cert(&conf.name, &ca_key, name.as_str(), &ips)
            .map_err(NodeError::internal)?;
        let mut ops = vec![
            Op::Delete {
                path: cfs_path(&token_path)?,
                expect_version: Some(stored_file.version),
                recursive: false,
            },
            write_op(layout::CLUSTER_CONF, conf.to_text(), Some(conf_version))?,
        ];
        if !app.qdevice {
            for dir in layout::node_skeleton(&name) {
                ops.push(Op::Mkdir {
                    path: dir,
                    parents: true,
                });
            }
        }
        match cfs.propose(Op::Batch { ops }).await {
            Err(CfsError::VersionMismatch { path, .. } | CfsError::NotFound { path })
                if path.contains("join-tokens") =>
            {
                return Err(refused())
            }
            Err(CfsError::VersionMismatch { .. }) => {
                return Err(NodeError::Conflict(
                    "cluster.conf changed meanwhile; retry the join".into(),
                ))
            }
            other => other?,
        };
        let member = Member {
            name: name.to_string(),
            rpc_addr: SocketAddr::new(address, app.rpc_port).to_string(),
            api_addr: SocketAddr::new(api_address.unwrap_or(address), app.api_port).to_string(),
            rpc_addr1: link1.map(|ip| SocketAddr::new(ip, app.rpc_port).to_string()),
        };
        cfs.add_learner(nodeid, member).await?;
        self.log_event(
            "joined",
            format!("node {name} joined the cluster (nodeid {nodeid})"),
        )
        .await;
        Ok(JoinGrant {
            cluster: conf.name,
            node_id: nodeid,
            cert_pem: cert.cert_pem,
            key_pem: cert.key_pem,
            ca_pem: rt.ca_pem.clone(),
        })
    }
}
