//! HTTP clients whose sockets leave from the node's own address.

use std::net::IpAddr;
use std::time::Duration;

use rustls::ClientConfig;

use crate::NetError;

/// Connect timeout for every internal and API connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A reqwest client over `tls`, bound to `local` when given (so that
/// firewall rules between loopback addresses see the node's own source).
pub fn build(
    tls: ClientConfig,
    local: Option<IpAddr>,
    timeout: Option<Duration>,
) -> Result<reqwest::Client, NetError> {
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .no_proxy();
    if let Some(ip) = local {
        b = b.local_address(ip);
    }
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    Ok(b.build()?)
}
