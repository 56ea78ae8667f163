//! How the CLI finds its node: config file, URL, certificate to trust, token.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;

use brigade_client::{Client, ClientOptions};
use brigade_node::config::{NodeConfig, DEFAULT_API_PORT, DEFAULT_CONFIG_PATH};
use brigade_node::state_dir::{API_CERT, CA_CERT, LOCAL_TOKEN, ROOT_TOKEN};

use crate::output::OutputFormat;

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// The local node's configuration (default /etc/brigade/node.toml when it exists).
    #[arg(long, global = true, env = "BRIGADE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The node to talk to: https://IP:PORT, IP:PORT or IP (port 8006).
    #[arg(long, global = true, env = "BRIGADE_NODE")]
    pub node: Option<String>,
    /// API token user@realm!name=secret (default: the local node's stored token).
    #[arg(
        long = "api-token",
        global = true,
        env = "BRIGADE_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,
    /// PEM file of the cluster CA to trust (default: the local node's).
    #[arg(long, global = true, env = "BRIGADE_CA")]
    pub ca: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

impl GlobalArgs {
    /// The node configuration, if one is given or installed.
    pub fn node_config(&self) -> anyhow::Result<Option<NodeConfig>> {
        match &self.config {
            Some(p) => Ok(Some(NodeConfig::load(p)?)),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                Ok(Some(NodeConfig::load(Path::new(DEFAULT_CONFIG_PATH))?))
            }
            None => Ok(None),
        }
    }

    pub fn json(&self) -> bool {
        self.output == OutputFormat::Json
    }
}

/// Normalizes `IP`, `IP:PORT` or a URL to `https://HOST:PORT`.
pub fn normalize_url(node: &str) -> String {
    let s = node.trim().trim_end_matches('/');
    if s.starts_with("https://") || s.starts_with("http://") {
        return s.to_string();
    }
    if s.parse::<std::net::SocketAddr>().is_ok() {
        return format!("https://{s}");
    }
    format!("https://{s}:{DEFAULT_API_PORT}")
}

fn read_opt(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Builds the API client for this invocation.
pub fn client(g: &GlobalArgs) -> anyhow::Result<Client> {
    let cfg = g.node_config()?;
    let state = cfg.as_ref().map(|c| c.state_dir());
    let url = match (&g.node, &cfg) {
        (Some(n), _) => normalize_url(n),
        (None, Some(c)) => c.api_url(),
        (None, None) => bail!("no node to talk to: pass --node https://IP:8006 or --config FILE (or install {DEFAULT_CONFIG_PATH})"),
    };
    let ca_pem = match (&g.ca, &state) {
        (Some(p), _) => std::fs::read_to_string(p).with_context(|| format!("cannot read CA file {}", p.display()))?,
        (None, Some(s)) => match read_opt(&s.join(CA_CERT)).or_else(|| read_opt(&s.join(API_CERT))) {
            Some(pem) => pem,
            None => bail!("the node at {} has no certificate yet: is it running? (looked in {})", url, s.display()),
        },
        (None, None) => bail!("don't know which certificate to trust for {url}: pass --ca FILE (the cluster's brigade-root-ca.pem)"),
    };
    let token = match (&g.api_token, &state) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(s)) => read_opt(&s.join(ROOT_TOKEN)).or_else(|| read_opt(&s.join(LOCAL_TOKEN))),
        (None, None) => None,
    };
    Ok(Client::new(ClientOptions {
        url,
        ca_pem,
        token,
        local_addr: None,
        timeout: None,
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(normalize_url("127.0.1.1"), "https://127.0.1.1:8006");
        assert_eq!(normalize_url("127.0.1.1:9000"), "https://127.0.1.1:9000");
        assert_eq!(normalize_url("https://x:1/"), "https://x:1");
    }
}
