//! Cluster lifecycle: create, join tokens, join, delnode, node list and status.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade_cfs::{Cfs, CfsError, Member, Op};
use brigade_core::cluster_conf::{ClusterConf, NodeEntry};
use brigade_core::{layout, poll_until, NodeName};
use brigade_net::pki;
use brigade_net::{http_client, tls};

use crate::error::NodeError;
use crate::join_token::{JoinToken, StoredJoinToken, JOIN_TOKEN_TTL_SECS};
use crate::node::{cfs_path, ClusterRuntime, Node};
use crate::state_dir::Membership;
use crate::token::{self, ApiToken};
use brigade_api::cluster::*;
use brigade_api::ErrorBody;

/// How long a joining node waits to be replicated to and quorate.
pub const JOIN_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a joining node checks whether it votes yet.
const JOIN_SETTLE_POLL: Duration = Duration::from_millis(50);
/// Timeout of the join application sent to a member.
pub const JOIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the node is not quorate, and what an even number of voters risks.
pub fn quorum_warnings(
    cfs: &brigade_cfs::CfsStatus,
    conf: Option<&ClusterConf>,
    members: &[brigade_membership::PeerStatus],
) -> Vec<String> {
    let mut out = Vec::new();
    let voters: Vec<u64> = cfs
        .members
        .iter()
        .filter(|m| m.voter)
        .map(|m| m.id)
        .collect();
    let has_qdevice = conf.is_some_and(|c| c.qdevice.is_some());
    let present = voters
        .iter()
        .filter(|v| members.iter().any(|m| m.id == **v && m.alive))
        .count();
    let needed = voters.len() / 2 + 1;
    if let Some(e) = &cfs.storage_error {
        out.push(format!(
            "not quorate: this node's storage failed ({e}); Raft is stopped here, the configuration is read-only on this node and its reads may be stale, until the stores are writable again (it recovers by itself)"
        ));
        return out;
    }
    if !cfs.quorate && !voters.is_empty() {
        let mut line = format!(
            "not quorate: {present} of {} votes present, {needed} needed; the configuration is read-only and nothing is started or recovered",
            voters.len()
        );
        if voters.len() == 2 && !has_qdevice {
            line.push_str(
                "; a two-node cluster cannot lose either node without a tie-breaker: add one with 'brigade cluster qdevice setup ADDR'",
            );
        }
        out.push(line);
    }
    if voters.len() % 2 == 0 && !voters.is_empty() && !has_qdevice {
        out.push(format!(
            "even number of voters ({}) and no qdevice: losing half of them stops the whole cluster; add one with 'brigade cluster qdevice setup ADDR'",
            voters.len()
        ));
    }
    out
}

/// Warnings derived from the heartbeat view.
pub fn warnings(members: &[brigade_membership::PeerStatus]) -> Vec<String> {
    let mut out = Vec::new();
    for m in members.iter().filter(|m| !m.local) {
        if !m.alive {
            out.push(format!("node {} is dead: no heartbeat on any link", m.name));
            continue;
        }
        for l in m.links.iter().filter(|l| l.address.is_some() && !l.up) {
            out.push(format!("link{} to {} is down", l.link, m.name));
        }
        if let Some(off) = m.clock_offset_ms {
            match m.clock.as_str() {
                "alarm" => out.push(format!(
                    "clock ALARM: {} is off by {:+.1} s (over 10 s)",
                    m.name,
                    off / 1000.0
                )),
                "warning" => out.push(format!(
                    "clock warning: {} is off by {:+.1} s (over 1 s)",
                    m.name,
                    off / 1000.0
                )),
                _ => {}
            }
        }
    }
    out
}

/// A new random cluster key for heartbeat HMACs (hex).
fn new_authkey() -> Vec<u8> {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    hex::encode(key).into_bytes()
}

fn write_op(
    path: &str,
    data: impl Into<Vec<u8>>,
    expect_version: Option<u64>,
) -> Result<Op, NodeError> {
    Ok(Op::Write {
        path: cfs_path(path)?,
        data: data.into(),
        expect_version,
        create_exclusive: false,
    })
}

fn read_text(cfs: &Cfs, path: &str) -> Result<(String, u64), NodeError> {
    let f = cfs.read(&cfs_path(path)?)?;
    let text =
        String::from_utf8(f.data).map_err(NodeError::failed(format!("{path} is not UTF-8")))?;
    Ok((text, f.version))
}

/// Reads and parses cluster.conf from the local replica.
pub fn read_cluster_conf(cfs: &Cfs) -> Result<ClusterConf, NodeError> {
    let (text, _) = read_text(cfs, layout::CLUSTER_CONF)?;
    ClusterConf::parse(&text).map_err(NodeError::failed("cluster.conf"))
}

fn read_cluster_conf_versioned(cfs: &Cfs) -> Result<(ClusterConf, u64), NodeError> {
    let (text, version) = read_text(cfs, layout::CLUSTER_CONF)?;
    let conf = ClusterConf::parse(&text).map_err(NodeError::failed("cluster.conf"))?;
    Ok((conf, version))
}

impl Node {
    fn node_entry(&self, nodeid: u64) -> NodeEntry {
        NodeEntry {
            name: self.config.name.clone(),
            nodeid,
            votes: 1,
            link0: self.config.address,
            link1: self.config.link1,
        }
    }

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
        let ips: Vec<IpAddr> = std::iter::once(self.config.address)
            .chain(self.config.link1)
            .collect();
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
            rpc_port: self.config.rpc_port,
            link1: self.config.link1.map(|ip| ip.to_string()),
            qdevice: self.config.qdevice,
        };
        let resp = client
            .post(format!("https://{target}/api2/json/cluster/join/request"))
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

    /// Runs a leader-only operation here if this node leads, else on the leader.
    pub async fn admin(self: &Arc<Self>, op: AdminOp) -> Result<AdminResult, NodeError> {
        let rt = self.require_cluster()?.clone();
        let status = rt.cfs.status();
        if status.leader == Some(rt.membership.node_id) {
            return self.admin_as_leader(&rt, op).await;
        }
        let leader = status
            .leader
            .and_then(|l| status.members.iter().find(|m| m.id == l))
            .ok_or(NodeError::Cfs(CfsError::NoLeader))?;
        let resp = rt
            .rpc_client
            .post(format!("https://{}/node/admin", leader.rpc_addr))
            .timeout(JOIN_REQUEST_TIMEOUT)
            .json(&op)
            .send()
            .await
            .map_err(NodeError::peer(format!(
                "cannot reach the leader {}",
                leader.name
            )))?;
        let result: Result<AdminResult, ErrorBody> = resp.json().await.map_err(NodeError::peer(
            format!("bad answer of the leader {}", leader.name),
        ))?;
        result.map_err(NodeError::from)
    }

    async fn admin_as_leader(
        &self,
        rt: &ClusterRuntime,
        op: AdminOp,
    ) -> Result<AdminResult, NodeError> {
        match op {
            AdminOp::Join(app) => self.grant_join(rt, app).await.map(AdminResult::Joined),
            AdminOp::DelNode { name } => self
                .remove_node(rt, &name)
                .await
                .map(|_| AdminResult::Removed),
            AdminOp::RemoveQdevice => self.remove_qdevice(rt).await.map(|_| AdminResult::Removed),
        }
    }

    async fn grant_join(
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
        if !token::constant_time_eq(&stored.hash, &token::hash_secret(&app.secret))
            || stored.expires < brigade_core::unix_now_secs()
        {
            return Err(refused());
        }
        let name: NodeName = app.name.parse().map_err(NodeError::Format)?;
        let address: IpAddr = app
            .address
            .parse()
            .map_err(|_| NodeError::Invalid(format!("invalid address {:?}", app.address)))?;
        let link1: Option<IpAddr> = match &app.link1 {
            Some(s) => Some(
                s.parse()
                    .map_err(|_| NodeError::Invalid(format!("invalid link1 address {s:?}")))?,
            ),
            None => None,
        };
        let (mut conf, conf_version) = read_cluster_conf_versioned(cfs)?;
        if conf.node(&name).is_some() || conf.qdevice.as_ref().is_some_and(|q| q.name == name) {
            return Err(NodeError::Conflict(format!(
                "a node named {name} is already in the cluster; remove it with 'brigade cluster delnode {name}' first"
            )));
        }
        if app.qdevice {
            if let Some(q) = &conf.qdevice {
                return Err(NodeError::Conflict(format!(
                    "cluster {} already has a qdevice ({} at {}); remove it first with 'brigade cluster qdevice remove'",
                    conf.name, q.name, q.address
                )));
            }
        }
        if let Some(other) = conf.nodes.iter().find(|n| n.link0 == address) {
            return Err(NodeError::Conflict(format!(
                "address {address} is already used by node {}",
                other.name
            )));
        }
        let nodeid = conf.next_nodeid();
        let (ca_key, _) = read_text(cfs, layout::CA_KEY)?;
        let ips: Vec<IpAddr> = std::iter::once(address).chain(link1).collect();
        let cert = pki::issue_node_cert(&conf.name, &ca_key, name.as_str(), &ips)
            .map_err(NodeError::internal)?;
        if app.qdevice {
            conf.qdevice = Some(brigade_core::cluster_conf::QdeviceEntry {
                name: name.clone(),
                nodeid,
                address,
            });
        } else {
            conf.nodes.push(NodeEntry {
                name: name.clone(),
                nodeid,
                votes: 1,
                link0: address,
                link1,
            });
        }
        conf.config_version += 1;
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
            Err(CfsError::VersionMismatch { path, .. }) | Err(CfsError::NotFound { path })
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
            api_addr: SocketAddr::new(address, app.api_port).to_string(),
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

    async fn remove_node(&self, rt: &ClusterRuntime, name: &str) -> Result<(), NodeError> {
        let name: NodeName = name.parse().map_err(NodeError::Format)?;
        let (mut conf, version) = read_cluster_conf_versioned(&rt.cfs)?;
        let entry = conf
            .node(&name)
            .cloned()
            .ok_or_else(|| NodeError::NotFound(format!("no node named {name} in the cluster")))?;
        if entry.nodeid == rt.membership.node_id {
            return Err(NodeError::Invalid(format!(
                "{name} is the current leader; run delnode on another node after it steps down"
            )));
        }
        conf.nodes.retain(|n| n.name != name);
        let msg = format!("node {name} was removed from the cluster");
        self.retire(rt, entry.nodeid, conf, version, "removed", msg)
            .await
    }

    /// Takes a member out of Raft (if it is there) and writes the cluster.conf
    /// that no longer lists it, then logs the event.
    async fn retire(
        &self,
        rt: &ClusterRuntime,
        nodeid: u64,
        mut conf: ClusterConf,
        version: u64,
        kind: &str,
        msg: String,
    ) -> Result<(), NodeError> {
        if rt.cfs.status().members.iter().any(|m| m.id == nodeid) {
            rt.cfs.remove_member(nodeid).await?;
        }
        conf.config_version += 1;
        rt.cfs
            .propose(write_op(
                layout::CLUSTER_CONF,
                conf.to_text(),
                Some(version),
            )?)
            .await?;
        self.log_event(kind, msg).await;
        Ok(())
    }

    async fn remove_qdevice(&self, rt: &ClusterRuntime) -> Result<(), NodeError> {
        let (mut conf, version) = read_cluster_conf_versioned(&rt.cfs)?;
        let q = conf
            .qdevice
            .take()
            .ok_or_else(|| NodeError::NotFound("this cluster has no qdevice".into()))?;
        let msg = format!("qdevice {} at {} removed", q.name, q.address);
        self.retire(rt, q.nodeid, conf, version, "qdevice", msg)
            .await
    }

    /// `cluster qdevice remove`.
    pub async fn qdevice_remove(self: &Arc<Self>) -> Result<(), NodeError> {
        self.admin(AdminOp::RemoveQdevice).await.map(|_| ())
    }

    /// `cluster nodes`.
    pub fn nodes(&self) -> Result<Vec<NodeRow>, NodeError> {
        let rt = self.require_cluster()?;
        let conf = read_cluster_conf(&rt.cfs)?;
        let status = rt.cfs.status();
        Ok(conf
            .nodes
            .iter()
            .map(|n| {
                let m = status.members.iter().find(|m| m.id == n.nodeid);
                NodeRow {
                    name: n.name.to_string(),
                    nodeid: n.nodeid,
                    votes: if m.is_some_and(|m| m.voter) {
                        n.votes
                    } else {
                        0
                    },
                    address: n.link0.to_string(),
                    role: match m {
                        Some(m) if m.voter => "voter".into(),
                        Some(_) => "learner".into(),
                        None => "joining".into(),
                    },
                    leader: status.leader == Some(n.nodeid),
                    local: n.name == self.config.name,
                    matched_index: m.and_then(|m| m.matched),
                }
            })
            .collect())
    }

    /// `cluster status`.
    pub fn status(&self) -> ClusterStatus {
        let node = self.config.name.to_string();
        let Some(rt) = self.cluster() else {
            return ClusterStatus {
                node,
                cluster: None,
                node_id: None,
                quorate: false,
                cfs: None,
                config: None,
                members: Vec::new(),
                heartbeats: Default::default(),
                warnings: Vec::new(),
            };
        };
        let cfs = rt.cfs.status();
        let config = read_cluster_conf(&rt.cfs).ok();
        let members = rt.members.status();
        let mut all_warnings = quorum_warnings(&cfs, config.as_ref(), &members);
        all_warnings.extend(warnings(&members));
        ClusterStatus {
            node,
            cluster: Some(rt.membership.cluster.clone()),
            node_id: Some(rt.membership.node_id),
            quorate: cfs.quorate,
            cfs: Some(cfs),
            config,
            members,
            heartbeats: rt.members.counters(),
            warnings: all_warnings,
        }
    }
}

/// Why a join application did not get through: a CA that is not the token's is named
/// as such (the member answered, with another cluster's certificate), not "cannot reach".
fn join_transport_error(target: SocketAddr, e: &reqwest::Error) -> NodeError {
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
