//! `brigade node run`: opens the node, serves the API, stops cleanly on SIGTERM/SIGINT.

use std::sync::Arc;

use anyhow::Context as _;
use brigade_net::{serve, tls};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::config::NodeConfig;
use crate::node::Node;

/// Runs the node until a stop signal.
pub async fn run(config: NodeConfig) -> anyhow::Result<()> {
    let api_addr = config.api_addr();
    let listener = TcpListener::bind(api_addr).await.with_context(|| {
        format!("cannot listen on {api_addr} for the API (is another node running there?)")
    })?;
    let node: Arc<Node> = Node::open(config).await.context("cannot start the node")?;
    let server_tls = tls::api_server_config(node.api_cert.clone()).context("API TLS setup")?;
    let app = crate::api::router(node.clone());
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

    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!("stopping");
    node.shutdown().await;
    Ok(())
}
