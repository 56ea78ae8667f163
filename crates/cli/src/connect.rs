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

/// The node's URL and the certificate to trust, from the options and the node config.
pub fn endpoint(g: &GlobalArgs) -> anyhow::Result<(String, String, Option<PathBuf>)> {
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
    Ok((url, ca_pem, state))
}

/// A client of the node without credentials (for logging in).
pub fn anonymous_client(g: &GlobalArgs) -> anyhow::Result<(Client, String)> {
    let (url, ca_pem, _) = endpoint(g)?;
    let client = Client::new(ClientOptions {
        url: url.clone(),
        ca_pem,
        token: None,
        local_addr: None,
        timeout: None,
    })?;
    Ok((client, url))
}

/// Builds the API client for this invocation: `--api-token`, else the ticket `brigade login`
/// stored for this node, else the local node's stored token.
pub fn client(g: &GlobalArgs) -> anyhow::Result<Client> {
    let (url, ca_pem, state) = endpoint(g)?;
    let ticket = match &g.api_token {
        Some(_) => None,
        None => crate::cmd::login::stored_ticket(&url),
    };
    let token = match (&g.api_token, &state, &ticket) {
        (Some(t), _, _) => Some(t.clone()),
        (None, _, Some(_)) => None,
        (None, Some(s), None) => {
            read_opt(&s.join(ROOT_TOKEN)).or_else(|| read_opt(&s.join(LOCAL_TOKEN)))
        }
        (None, None, None) => None,
    };
    let client = Client::new(ClientOptions {
        url,
        ca_pem,
        token,
        local_addr: None,
        timeout: None,
    })?;
    Ok(match ticket {
        Some(t) => client.with_ticket(t),
        None => client,
    })
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
