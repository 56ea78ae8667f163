//! `brigade node run`: opens the node, serves the API, stops cleanly on SIGTERM/SIGINT.

use std::sync::Arc;

use brigade_net::{serve, tls};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::NodeConfig;
use crate::error::NodeError;

/// Why the daemon could not start (the source says more; `{:#}` prints the chain).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The API port is taken or not ours to bind.
    #[error("cannot listen on {addr} for the API (is another node running there?)")]
    Listen {
        /// The API address.
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The node's state could not be opened or its cluster not joined.
    #[error("cannot start the node")]
    Open(#[source] NodeError),
    /// The API's TLS configuration failed.
    #[error("API TLS setup")]
    Tls(#[source] brigade_net::NetError),
    /// The cluster moved to a format this node does not speak.
    #[error("{0}")]
    Refused(String),
    /// A stop signal handler could not be installed.
    #[error("installing the stop signal handlers")]
    Signal(#[source] std::io::Error),
}
use crate::node::Node;

/// Runs the node until a stop signal.
pub async fn run(config: NodeConfig) -> Result<(), DaemonError> {
    let api_addr = config.api_addr();
    let listener = TcpListener::bind(api_addr)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: api_addr,
            source,
        })?;
    let node: Arc<Node> = Node::open(config).await.map_err(DaemonError::Open)?;
    let server_tls = tls::api_server_config(node.api_cert.clone()).map_err(DaemonError::Tls)?;
    let app = crate::api::router(node.clone());
    tokio::spawn(node.clone().run_rrd_sampler());
    tokio::spawn(serve::serve_tls(
        listener,
        server_tls,
        app,
        serve::Protocols::default(),
    ));
    tracing::info!(node = %node.config.name, api = %api_addr, state = %node.state.path("").display(), "node running");
    println!(
        "brigade node {} listening on https://{api_addr}",
        node.config.name
    );
    if node.config.qdevice {
        let pem = std::fs::read_to_string(node.state.path(crate::state_dir::API_CERT))
            .unwrap_or_default();
        if let Ok(fp) = brigade_net::pki::fingerprint_pem(&pem) {
            println!("qdevice certificate fingerprint: {fp}");
        }
    }

    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    let mut refused = node.refused();
    let why = tokio::select! {
        _ = term.recv() => None,
        _ = int.recv() => None,
        r = refused.wait_for(Option::is_some) => r.ok().and_then(|w| w.clone()),
    };
    tracing::info!("stopping");
    node.shutdown().await;
    match why {
        Some(why) => Err(DaemonError::Refused(why)),
        None => Ok(()),
    }
}
