//! Talking to the nodes' API: clients, waiting for them, forming the cluster
//! (create, join, qdevice), quorum, cluster.conf edits.

use std::path::Path;
use std::time::Instant;

use brigade_client::{Client, ClientOptions};
use brigade_core::poll_until;
use brigade_node::config::RaftTuning;
use brigade_node::state_dir::{API_CERT, LOCAL_TOKEN};

use crate::error::LocalClusterError;
use crate::{ProcCluster, Result, NODE_START_TIMEOUT, POLL_INTERVAL, QUORUM_TIMEOUT};

/// A file of a node's state directory.
fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(LocalClusterError::io(format!("reading {}", path.display())))
}

impl ProcCluster {
    /// `cluster qdevice setup` through node 0: the qdevice at index `q` joins as a voter.
    pub async fn setup_qdevice(&mut self, q: usize) -> Result<()> {
        self.wait_api(q).await?;
        let token = self.client(0)?.join_token().await?.token;
        let member = self.nodes[0].config.api_addr().to_string();
        Client::qdevice_adopt(&self.nodes[q].config.api_url(), None, &member, &token).await?;
        Ok(())
    }

    /// A client of node `i`: the cluster root token and CA once created,
    /// the node's local token and self-signed certificate before.
    pub fn client(&self, i: usize) -> Result<Client> {
        let node = &self.nodes[i];
        let state = node.state_dir();
        let (ca_pem, token) = match (&self.ca_pem, &self.root_token) {
            (Some(ca), Some(t)) => (ca.clone(), t.clone()),
            _ => (
                read(&state.join(API_CERT))?,
                read(&state.join(LOCAL_TOKEN))?.trim().to_string(),
            ),
        };
        Ok(Client::new(ClientOptions {
            url: node.config.api_url(),
            ca_pem,
            token: Some(token),
            local_addr: None,
            timeout: None,
        })?)
    }

    /// A client of node `i` authenticated with `token` (an API token of a user), trusting
    /// the cluster CA; an error before the cluster is created.
    pub fn token_client(&self, i: usize, token: &str) -> Result<Client> {
        let ca_pem = self.ca_pem.clone().ok_or(LocalClusterError::NotFormed)?;
        Ok(Client::new(ClientOptions {
            url: self.nodes[i].config.api_url(),
            ca_pem,
            token: Some(token.to_string()),
            local_addr: None,
            timeout: None,
        })?)
    }

    /// A client of node `i` authenticated with its node-local token (works before and after join).
    pub fn local_client(&self, i: usize) -> Result<Client> {
        let node = &self.nodes[i];
        let state = node.state_dir();
        let ca_path = state.join(brigade_node::state_dir::CA_CERT);
        let ca_pem = read(&ca_path).or_else(|_| read(&state.join(API_CERT)))?;
        Ok(Client::new(ClientOptions {
            url: node.config.api_url(),
            ca_pem,
            token: Some(read(&state.join(LOCAL_TOKEN))?.trim().to_string()),
            local_addr: None,
            timeout: None,
        })?)
    }

    /// Waits until node `i` answers its API.
    pub async fn wait_api(&self, i: usize) -> Result<()> {
        let deadline = Instant::now() + NODE_START_TIMEOUT;
        let answered = poll_until(deadline, POLL_INTERVAL, || async {
            match self.local_client(i) {
                Ok(c) => c.version().await.is_ok(),
                Err(_) => false,
            }
        })
        .await;
        if answered.is_err() {
            return Err(LocalClusterError::Timeout(format!(
                "{} did not answer its API within {:?} (see {}/{}.log)",
                self.nodes[i].name,
                NODE_START_TIMEOUT,
                self.dir.display(),
                self.nodes[i].name
            )));
        }
        Ok(())
    }

    /// Starts `n` nodes, creates cluster `name` on the first and joins the others.
    pub async fn form(
        bin: &Path,
        dir: &Path,
        subnet: u8,
        n: usize,
        tuning: RaftTuning,
    ) -> Result<ProcCluster> {
        Self::form_opts(bin, dir, subnet, n, tuning, false).await
    }

    /// Like [`ProcCluster::form`]; `detached` nodes outlive the returned value (lab mode).
    pub async fn form_opts(
        bin: &Path,
        dir: &Path,
        subnet: u8,
        n: usize,
        tuning: RaftTuning,
        detached: bool,
    ) -> Result<ProcCluster> {
        Self::form_configured(bin, dir, subnet, n, tuning, detached, None).await
    }

    /// [`ProcCluster::form_opts`] with every node's config changed by `configure` first.
    pub async fn form_configured(
        bin: &Path,
        dir: &Path,
        subnet: u8,
        n: usize,
        tuning: RaftTuning,
        detached: bool,
        configure: Option<crate::NodeConfigHook>,
    ) -> Result<ProcCluster> {
        let mut c = ProcCluster::new(bin, dir, subnet, tuning);
        c.detached = detached;
        c.configure = configure;
        for _ in 0..n {
            c.spawn_node()?;
        }
        for i in 0..n {
            c.wait_api(i).await?;
        }
        c.create("test").await?;
        for i in 1..n {
            c.join(i).await?;
        }
        Ok(c)
    }

    /// `cluster create` on node 0.
    pub async fn create(&mut self, name: &str) -> Result<()> {
        let r = self.local_client(0)?.cluster_create(name).await?;
        self.root_token = Some(r.root_token);
        let ca = self.nodes[0]
            .state_dir()
            .join(brigade_node::state_dir::CA_CERT);
        self.ca_pem = Some(
            std::fs::read_to_string(&ca)
                .map_err(LocalClusterError::io(format!("reading {}", ca.display())))?,
        );
        Ok(())
    }

    /// Makes a join token on node 0 (or the first running member) and joins node `i`.
    pub async fn join(&mut self, i: usize) -> Result<()> {
        let token = self.client(0)?.join_token().await?.token;
        let member = self.nodes[0].config.api_addr().to_string();
        self.local_client(i)?.cluster_join(&member, &token).await?;
        Ok(())
    }

    /// Spawns one more node and joins it.
    pub async fn add_node(&mut self) -> Result<usize> {
        let i = self.spawn_node()?;
        self.wait_api(i).await?;
        self.join(i).await?;
        Ok(i)
    }

    /// Waits until every listed node reports itself quorate with the same leader.
    pub async fn wait_quorate(&self, nodes: &[usize]) -> Result<u64> {
        let deadline = Instant::now() + QUORUM_TIMEOUT;
        let leader = poll_until(deadline, POLL_INTERVAL, || async {
            let mut leaders = Vec::new();
            for &i in nodes {
                let c = match self.client(i) {
                    Ok(c) => c,
                    Err(e) => return Some(Err(e)),
                };
                match c.status().await {
                    Ok(s) if s.quorate => leaders.push(s.cfs.and_then(|c| c.leader)),
                    _ => return None,
                }
            }
            let agreed = leaders.windows(2).all(|w| w[0] == w[1]);
            leaders
                .first()
                .copied()
                .flatten()
                .filter(|_| agreed)
                .map(Ok)
        })
        .await;
        leader.map_err(|_| {
            LocalClusterError::Timeout(format!(
                "nodes {nodes:?} did not agree on a quorate leader within {QUORUM_TIMEOUT:?}"
            ))
        })?
    }

    /// Edits cluster.conf through the API (compare-and-swap on its version).
    pub async fn edit_cluster_conf(
        &self,
        via: usize,
        edit: impl Fn(&mut brigade_core::cluster_conf::ClusterConf),
    ) -> Result<()> {
        let client = self.client(via)?;
        let f = client
            .fs_read(brigade_core::layout::CLUSTER_CONF, true)
            .await?;
        let mut conf =
            brigade_core::cluster_conf::ClusterConf::parse(&f.content.unwrap_or_default())?;
        edit(&mut conf);
        conf.config_version += 1;
        client
            .fs_write(&brigade_client::WriteRequest {
                path: brigade_core::layout::CLUSTER_CONF.into(),
                content: Some(conf.to_text()),
                data: None,
                expect_version: Some(f.version),
                create_exclusive: false,
            })
            .await?;
        Ok(())
    }
}
