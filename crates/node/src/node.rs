//! The node: its configuration, identity, and (once in a cluster) its cluster runtime.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use brigade_cfs::{Cfs, CfsOptions, Member, RaftSettings};
use brigade_core::layout;
use brigade_core::CfsPath;
use brigade_net::pki::CertPair;
use brigade_net::tls::{self, ReloadableCert};
use brigade_net::{http_client, serve};
use tokio::net::TcpListener;

use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::state_dir::{Membership, StateDir, CFS_DIR};
use crate::token::{self, ApiToken};

/// How often the leader reconciles voters and learners.
pub const MEMBERSHIP_RECONCILE_INTERVAL: Duration = Duration::from_secs(1);

/// How often peers, key and timeouts are read from cfs into the membership service.
pub const MEMBERSHIP_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// The parts that exist once the node is in a cluster.
pub struct ClusterRuntime {
    pub membership: Membership,
    pub cfs: Arc<Cfs>,
    /// Heartbeats: liveness, links, RTT, clock offsets.
    pub members: Arc<brigade_membership::Membership>,
    pub ca_pem: String,
    /// mTLS client bound to the node's address.
    pub rpc_client: reqwest::Client,
    /// The same identity for raw tunnels (migration, volume copies, consoles).
    pub client_tls: rustls::ClientConfig,
}

/// One brigade node.
pub struct Node {
    pub config: NodeConfig,
    pub state: StateDir,
    pub(crate) local_token: ApiToken,
    pub(crate) api_cert: Arc<ReloadableCert>,
    cluster: OnceLock<Arc<ClusterRuntime>>,
    /// Guests running on this node.
    pub guests: crate::guests::Guests,
    /// HA: lease, LRM and CRM state.
    pub(crate) ha: crate::ha::HaRuntime,
    /// FUSE mounts of the cfs tree served by this daemon.
    pub(crate) mounts: crate::mount::Mounts,
    /// Serializes create and join.
    pub(crate) lifecycle: tokio::sync::Mutex<()>,
    /// Cluster-log events not yet written (no quorum at the time).
    pub(crate) pending_events: tokio::sync::Mutex<Vec<crate::cluster_log::LogEvent>>,
    /// Parsed access files and the login limiter.
    pub(crate) access: crate::access::AccessCache,
    /// What each member last announced of its formats.
    pub(crate) formats: crate::format_version::FormatTable,
    /// Set when the node must stop taking part (the cluster's format left its own).
    pub(crate) refused: tokio::sync::watch::Sender<Option<String>>,
    /// Graph histories of the node and its guests.
    pub rrd: crate::rrd::RrdService,
}

pub(crate) fn cfs_path(s: &str) -> Result<CfsPath, NodeError> {
    s.parse().map_err(NodeError::Format)
}

impl Node {
    /// Loads the node's identity (making first-start material) and, if it is
    /// already in a cluster, starts the cluster runtime.
    pub async fn open(config: NodeConfig) -> Result<Arc<Node>, NodeError> {
        let state = StateDir::open(&config.state_dir()).map_err(NodeError::internal)?;
        // Before anything is opened, served or voted: a member that cannot speak the
        // cluster's format takes no part at all.
        crate::format_version::check_format_at_start(&state, config.name.as_str())?;
        let local_token = state.local_token().map_err(NodeError::internal)?;
        let name = config.name.to_string();
        let cert_ips = config.cert_ips();
        let api_pair = state
            .api_cert(&cert_ips, || {
                brigade_net::pki::self_signed(&name, &cert_ips).map_err(std::io::Error::other)
            })
            .map_err(NodeError::internal)?;
        let api_key = tls::certified_key(&api_pair, None).map_err(NodeError::internal)?;
        let run = brigade_guest::RunDir::open(&config.run_dir())?;
        let tasks = crate::tasks::Tasks::open(
            &name,
            &state.path(crate::tasks::TASKS_DIR),
            crate::tasks::DEFAULT_LIMITS,
        )
        .map_err(NodeError::failed("cannot open the task store"))?;
        let rrd = crate::rrd::RrdService::new(state.path(crate::rrd::RRD_DIR));
        let node = Arc::new(Node {
            config,
            state,
            local_token,
            api_cert: ReloadableCert::new(api_key),
            cluster: OnceLock::new(),
            guests: crate::guests::Guests::open(run, tasks),
            ha: crate::ha::HaRuntime::default(),
            mounts: crate::mount::Mounts::default(),
            lifecycle: tokio::sync::Mutex::new(()),
            pending_events: tokio::sync::Mutex::new(Vec::new()),
            access: crate::access::AccessCache::default(),
            formats: crate::format_version::FormatTable::default(),
            refused: tokio::sync::watch::channel(None).0,
            rrd,
        });
        if let (Some(membership), Some((pair, ca))) = (
            node.state.membership().map_err(NodeError::internal)?,
            node.state.node_tls().map_err(NodeError::internal)?,
        ) {
            node.start_cluster(membership, &pair, &ca).await?;
        }
        Ok(node)
    }

    /// The cluster runtime, if the node is in a cluster.
    pub fn cluster(&self) -> Option<&Arc<ClusterRuntime>> {
        self.cluster.get()
    }

    pub fn require_cluster(&self) -> Result<&Arc<ClusterRuntime>, NodeError> {
        self.cluster.get().ok_or(NodeError::NotInCluster)
    }

    /// What Raft records for this node.
    pub fn member(&self) -> Member {
        Member {
            name: self.config.name.to_string(),
            rpc_addr: self.config.rpc_addr().to_string(),
            api_addr: self.config.api_addr().to_string(),
            rpc_addr1: self.config.rpc_addr1().map(|a| a.to_string()),
        }
    }

    /// A corrupted store stops the node with what to do about it; other errors pass.
    fn explain_corruption(&self, e: brigade_cfs::CfsError) -> NodeError {
        let brigade_cfs::CfsError::Corrupted { message } = e else {
            return e.into();
        };
        NodeError::StoreCorrupted {
            node: self.config.name.to_string(),
            message,
            state_dir: self.state.path(""),
        }
    }

    fn raft_settings(&self) -> RaftSettings {
        let t = &self.config.raft;
        let d = RaftSettings::default();
        RaftSettings {
            heartbeat_ms: t.heartbeat_ms.unwrap_or(d.heartbeat_ms),
            election_min_ms: t.election_min_ms.unwrap_or(d.election_min_ms),
            election_max_ms: t.election_max_ms.unwrap_or(d.election_max_ms),
            lease_ms: t.lease_ms.unwrap_or(d.lease_ms),
            snapshot_logs: t.snapshot_logs.unwrap_or(d.snapshot_logs),
            keep_logs: t.keep_logs.unwrap_or(d.keep_logs),
            snapshot_log_bytes: t.snapshot_log_bytes.unwrap_or(d.snapshot_log_bytes),
            can_lead: !self.config.qdevice,
        }
    }

    /// Starts Raft and the mutual-TLS RPC server with the node's cluster identity.
    pub(crate) async fn start_cluster(
        self: &Arc<Self>,
        membership: Membership,
        pair: &CertPair,
        ca_pem: &str,
    ) -> Result<Arc<ClusterRuntime>, NodeError> {
        let identity = tls::certified_key(pair, Some(ca_pem)).map_err(NodeError::internal)?;
        let client_tls = tls::client_config(ca_pem, Some(pair)).map_err(NodeError::internal)?;
        let client_tls_raft = client_tls.clone();
        let client_tls_tunnel = client_tls.clone();
        let rpc_client = http_client::build(client_tls, Some(self.config.address), None)
            .map_err(NodeError::internal)?;
        let mut listeners = Vec::new();
        for addr in std::iter::once(self.config.rpc_addr()).chain(self.config.rpc_addr1()) {
            listeners.push(
                TcpListener::bind(addr)
                    .await
                    .map_err(NodeError::failed(format!(
                        "cannot listen on {addr} for cluster RPC"
                    )))?,
            );
        }
        let cfs = Cfs::start(CfsOptions {
            node_id: membership.node_id,
            data_dir: self.state.path(CFS_DIR),
            raft_tls: client_tls_raft,
            local_addr: self.config.address,
            local_addr1: self.config.link1,
            settings: self.raft_settings(),
        })
        .await
        .map_err(|e| self.explain_corruption(e))?;
        let members = brigade_membership::Membership::start(brigade_membership::MembershipConfig {
            node_id: membership.node_id,
            node_name: self.config.name.to_string(),
            links: std::iter::once(self.config.address)
                .chain(self.config.link1)
                .collect(),
            port: self.config.heartbeat_port,
            node_timeout: Duration::from_secs(u64::from(
                brigade_core::cluster_conf::DEFAULT_NODE_TIMEOUT_SECS,
            )),
            interval: brigade_membership::service::HEARTBEAT_INTERVAL,
        })
        .await
        .map_err(NodeError::failed("cannot start membership"))?;
        let server_tls =
            tls::rpc_server_config(ca_pem, identity.clone()).map_err(NodeError::internal)?;
        let routes = crate::rpc::router(self.clone());
        let frames = brigade_cfs::rpc::frame_handler(cfs.clone());
        for listener in listeners {
            tokio::spawn(serve::serve_tls(
                listener,
                server_tls.clone(),
                routes.clone(),
                serve::Protocols {
                    frames: Some(frames.clone()),
                    tunnel: Some(crate::guests::tunnel_handler(self.clone())),
                },
            ));
        }
        self.api_cert.replace(identity);
        let rt = Arc::new(ClusterRuntime {
            membership,
            cfs,
            ca_pem: ca_pem.to_string(),
            rpc_client,
            client_tls: client_tls_tunnel,
            members,
        });
        if self.cluster.set(rt.clone()).is_err() {
            return Err(NodeError::Internal("cluster runtime started twice".into()));
        }
        self.spawn_membership_reconciler(rt.clone());
        self.spawn_membership_sync(rt.clone());
        self.spawn_format_watch(rt.clone());
        self.spawn_event_watcher(rt.clone());
        self.spawn_ha(rt.clone());
        if !self.config.qdevice {
            self.spawn_backup_jobs(rt.clone());
            self.spawn_incoming_reconciler();
            self.spawn_stale_lock_cleanup(rt.clone());
            self.spawn_sdn_apply(rt.clone());
        }
        if let Some(mp) = self.config.mount.clone() {
            if let Err(e) = self.mount_cfs(&mp) {
                tracing::warn!(
                    "cannot mount the configuration tree at {}: {e}",
                    mp.display()
                );
            }
        }
        tracing::info!(cluster = %rt.membership.cluster, node_id = rt.membership.node_id, "cluster services started");
        Ok(rt)
    }

    /// Feeds the heartbeat service with the peers of cluster.conf and the cluster key.
    fn spawn_membership_sync(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        let port = self.config.heartbeat_port;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MEMBERSHIP_SYNC_INTERVAL);
            let mut last_version = 0;
            loop {
                tick.tick().await;
                if let Ok(p) = cfs_path(layout::AUTHKEY) {
                    if let Ok(f) = rt.cfs.read(&p) {
                        rt.members.set_key(f.data);
                    }
                }
                let Ok(p) = cfs_path(layout::CLUSTER_CONF) else {
                    continue;
                };
                let Ok(f) = rt.cfs.read(&p) else { continue };
                if f.version == last_version {
                    continue;
                }
                let Ok(conf) = brigade_core::cluster_conf::ClusterConf::parse(
                    &String::from_utf8_lossy(&f.data),
                ) else {
                    continue;
                };
                last_version = f.version;
                rt.members
                    .set_node_timeout(Duration::from_secs(u64::from(conf.node_timeout_secs)));
                let qdevice = conf.qdevice.iter().map(|q| brigade_membership::Peer {
                    id: q.nodeid,
                    name: q.name.to_string(),
                    links: vec![Some(std::net::SocketAddr::new(q.address, port))],
                });
                rt.members.set_peers(
                    conf.nodes
                        .iter()
                        .map(|n| brigade_membership::Peer {
                            id: n.nodeid,
                            name: n.name.to_string(),
                            links: vec![
                                Some(std::net::SocketAddr::new(n.link0, port)),
                                n.link1.map(|ip| std::net::SocketAddr::new(ip, port)),
                            ],
                        })
                        .chain(qdevice)
                        .collect(),
                );
            }
        });
    }

    fn spawn_membership_reconciler(self: &Arc<Self>, rt: Arc<ClusterRuntime>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MEMBERSHIP_RECONCILE_INTERVAL);
            let started = std::time::Instant::now();
            loop {
                tick.tick().await;
                // Only the leader changes voters: the others need not parse cluster.conf.
                if rt.cfs.leader_since().is_none() {
                    continue;
                }
                let max_voters = match crate::cluster_ops::read_cluster_conf(&rt.cfs) {
                    Ok(c) => c.max_voters as usize,
                    Err(_) => continue,
                };
                // Judge liveness only once heartbeats had a full timeout to arrive.
                let settled = started.elapsed() > rt.members.node_timeout();
                let members = rt.members.clone();
                match rt
                    .cfs
                    .reconcile_voters(max_voters, |id| !settled || members.is_alive(id))
                    .await
                {
                    Ok(Some(voters)) => tracing::info!(?voters, "promoted learners to voters"),
                    Ok(None) => {}
                    Err(e) => tracing::warn!("voter reconciliation failed: {e}"),
                }
            }
        });
    }

    /// Checks an API token: the node-local token, or one in the cluster's priv/token.cfg.
    pub fn authenticate(&self, presented: &ApiToken) -> bool {
        if presented.id == self.local_token.id
            && token::constant_time_eq(&presented.hash(), &self.local_token.hash())
        {
            return true;
        }
        let Some(rt) = self.cluster() else {
            return false;
        };
        match cfs_path(layout::TOKENS_CFG).and_then(|p| rt.cfs.read(&p).map_err(NodeError::from)) {
            Ok(f) => token::tokens_cfg_verify(&String::from_utf8_lossy(&f.data), presented),
            Err(_) => false,
        }
    }

    /// Why the node stopped taking part, once it did (the daemon then stops).
    pub fn refused(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.refused.subscribe()
    }

    /// Stops the cluster runtime cleanly.
    pub async fn shutdown(&self) {
        // The samples since the last flush (a few hundred KB at most).
        self.rrd.flush();
        let _ = self.unmount_cfs(None);
        self.ha_shutdown().await;
        if let Some(rt) = self.cluster() {
            rt.cfs.shutdown().await;
        }
    }
}
