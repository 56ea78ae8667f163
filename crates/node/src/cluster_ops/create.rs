//! `cluster create` (the CA, the first node, the initial tree) and join tokens.

use std::net::IpAddr;
use std::sync::Arc;

use brigade_cfs::Op;
use brigade_core::cluster_conf::ClusterConf;
use brigade_core::{layout, NodeName};
use brigade_net::pki;

use crate::error::NodeError;
use crate::join_token::{JoinToken, StoredJoinToken, JOIN_TOKEN_TTL_SECS};
use crate::node::{cfs_path, Node};
use crate::state_dir::Membership;
use crate::token::{self, ApiToken};
use brigade_api::cluster::*;

use super::{new_authkey, read_cluster_conf, write_op};

impl Node {
    /// `cluster create NAME`: makes the CA, the first node's certificate and the initial tree.
    pub async fn create_cluster(
        self: &Arc<Self>,
        req: CreateRequest,
    ) -> Result<CreateResult, NodeError> {
        let _guard = self.lifecycle.lock().await;
        if let Some(rt) = self.cluster() {
            return Err(NodeError::AlreadyInCluster(rt.membership.cluster.clone()));
        }
        let name: NodeName = req.name.parse().map_err(|_| {
            NodeError::Invalid(format!(
                "invalid cluster name {:?}: use lowercase letters, digits and '-'",
                req.name
            ))
        })?;
        let ca = pki::generate_ca(name.as_str()).map_err(NodeError::internal)?;
        let ca_fingerprint = pki::fingerprint_pem(&ca.cert_pem).map_err(NodeError::internal)?;
        let ips: Vec<IpAddr> = self.config.cert_ips();
        let cert =
            pki::issue_node_cert(name.as_str(), &ca.key_pem, self.config.name.as_str(), &ips)
                .map_err(NodeError::internal)?;
        let membership = Membership {
            cluster: name.to_string(),
            node_id: 1,
        };
        self.state
            .save_node_tls(&cert, &ca.cert_pem)
            .map_err(NodeError::internal)?;
        self.state
            .save_membership(&membership)
            .map_err(NodeError::internal)?;
        let rt = self.start_cluster(membership, &cert, &ca.cert_pem).await?;
        rt.cfs.bootstrap(self.member()).await?;

        let root = ApiToken::generate("root@pam!root");
        let conf = ClusterConf::new(name.as_str(), self.node_entry(1));
        // `{state_dir}` expands per node: each node's local storage is its own.
        let storage = "dir: local\n\tpath {state_dir}/storage\n\tcontent images,rootdir\n";
        let mut ops = vec![
            write_op(layout::CLUSTER_CONF, conf.to_text(), Some(0))?,
            write_op(layout::DATACENTER_CFG, "migration: secure\n", Some(0))?,
            write_op(layout::STORAGE_CFG, storage, Some(0))?,
            write_op(layout::CA_CERT, ca.cert_pem.clone(), Some(0))?,
            write_op(layout::CA_KEY, ca.key_pem.clone(), Some(0))?,
            write_op(layout::AUTHKEY, new_authkey(), Some(0))?,
            write_op(
                layout::TOKENS_CFG,
                token::tokens_cfg_add("", &root, "created by cluster create")
                    .map_err(NodeError::internal)?,
                Some(0),
            )?,
            Op::Mkdir {
                path: cfs_path("ha")?,
                parents: true,
            },
            Op::Mkdir {
                path: cfs_path(layout::JOIN_TOKENS_DIR)?,
                parents: true,
            },
        ];
        for dir in layout::node_skeleton(&self.config.name) {
            ops.push(Op::Mkdir {
                path: dir,
                parents: true,
            });
        }
        rt.cfs.propose(Op::Batch { ops }).await?;
        self.state
            .save_root_token(&root)
            .map_err(NodeError::internal)?;
        tracing::info!(cluster = %name, "cluster created");
        Ok(CreateResult {
            cluster: name.to_string(),
            node_id: 1,
            root_token: root.to_string(),
            ca_fingerprint,
        })
    }

    /// `cluster join-token`: a one-time token pinning the CA fingerprint.
    pub async fn make_join_token(&self) -> Result<JoinTokenResult, NodeError> {
        let rt = self.require_cluster()?;
        let conf = read_cluster_conf(&rt.cfs)?;
        let fp = pki::fingerprint_pem(&rt.ca_pem).map_err(NodeError::internal)?;
        let status = rt.cfs.status();
        let addrs = status.members.iter().map(|m| m.api_addr.clone()).collect();
        let t = JoinToken::generate(&conf.name, addrs, &fp);
        let stored = StoredJoinToken {
            hash: token::hash_secret(&t.secret),
            expires: brigade_core::unix_now_secs() + JOIN_TOKEN_TTL_SECS,
        };
        let path = format!("{}/{}", layout::JOIN_TOKENS_DIR, t.id);
        let body = serde_json::to_vec(&stored).map_err(NodeError::internal)?;
        rt.cfs
            .propose(Op::Write {
                path: cfs_path(&path)?,
                data: body,
                expect_version: Some(0),
                create_exclusive: true,
            })
            .await?;
        Ok(JoinTokenResult {
            token: t.encode(),
            expires: stored.expires,
        })
    }
}
