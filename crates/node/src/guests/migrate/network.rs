//! Which address a node uses for migration streams (`datacenter.cfg` `migration:
//! type=secure|insecure,network=CIDR`: its address in that CIDR) and the plain-TCP relays
//! an insecure migration of a bridged VM needs: its QEMU runs in the node's guest network
//! namespace, where the node's own addresses do not exist, so the daemon (in the host
//! namespace) listens and connects for it and pipes the stream to QEMU's Unix socket.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout;
use tokio::net::{TcpListener, TcpSocket, UnixListener, UnixStream};

use super::TUNNEL_ACCEPT_TIMEOUT;
use crate::error::NodeError;
use crate::node::{cfs_path, ClusterRuntime, Node};
use crate::validate::{DatacenterConfig, MigrationType};

/// What datacenter.cfg says of migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MigrationSettings {
    /// `type=insecure`: plain TCP instead of the mTLS tunnel.
    pub insecure: bool,
    /// `network=CIDR`: each node streams from and to its address in it.
    pub network: Option<String>,
}

/// The migration settings of the cluster's datacenter.cfg (defaults when it is absent).
pub(crate) fn migration_settings(rt: &ClusterRuntime) -> MigrationSettings {
    let cfg = cfs_path(layout::DATACENTER_CFG)
        .ok()
        .and_then(|p| rt.cfs.read(&p).ok())
        .and_then(|f| DatacenterConfig::parse(&String::from_utf8_lossy(&f.data)).ok())
        .unwrap_or_default();
    MigrationSettings {
        insecure: cfg.migration == MigrationType::Insecure,
        network: cfg.migration_network,
    }
}

/// Whether `ip` lies in `cidr` (`ADDR/PREFIX`, IPv4 or IPv6).
pub(crate) fn in_cidr(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, prefix)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(prefix)) = (net.parse::<IpAddr>(), prefix.parse::<u32>()) else {
        return false;
    };
    let (a, b, bits) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    if prefix > bits {
        return false;
    }
    let shift = bits - prefix;
    shift >= 128 || (a >> shift) == (b >> shift)
}

/// The first of `candidates` in `cidr`.
pub(crate) fn address_in(cidr: &str, candidates: &[IpAddr]) -> Option<IpAddr> {
    candidates.iter().copied().find(|a| in_cidr(cidr, *a))
}

/// The addresses of the host's interfaces (`ip -j addr show`), for a migration network
/// that is none of the node's configured ones.
fn interface_addresses() -> Vec<IpAddr> {
    let Ok(out) = std::process::Command::new("ip")
        .args(["-j", "addr", "show"])
        .output()
    else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().and_then(|s| s.parse().ok()))
        .collect()
}

impl Node {
    /// This node's configured addresses: link0, link1, the API's.
    fn own_addresses(&self) -> Vec<IpAddr> {
        std::iter::once(self.config.address)
            .chain(self.config.link1)
            .chain(self.config.api_address)
            .collect()
    }

    /// The address this node uses for migration streams: its link0 address without
    /// `network=`, else its address in that CIDR (configured ones first, then the
    /// host's interfaces'); refused when it has none.
    pub(crate) fn migration_address(&self, s: &MigrationSettings) -> Result<IpAddr, NodeError> {
        let Some(net) = &s.network else {
            return Ok(self.config.address);
        };
        let own = self.own_addresses();
        address_in(net, &own)
            .or_else(|| address_in(net, &interface_addresses()))
            .ok_or_else(|| {
                let listed: Vec<String> = own.iter().map(ToString::to_string).collect();
                NodeError::Invalid(format!(
                    "node {} has no address in the migration network {net} (datacenter.cfg migration: network=; its addresses: {})",
                    self.config.name,
                    listed.join(", ")
                ))
            })
    }

    /// Where a secure migration's tunnel reaches this node: the RPC port listens on
    /// link0 and link1 only, so a `network=` must hold one of them.
    pub(crate) fn tunnel_address(&self, s: &MigrationSettings) -> Result<IpAddr, NodeError> {
        let a = self.migration_address(s)?;
        let rpc = std::iter::once(self.config.address).chain(self.config.link1);
        if rpc.clone().any(|r| r == a) {
            return Ok(a);
        }
        Err(NodeError::Invalid(format!(
            "a secure migration runs through the mTLS tunnel on the RPC port, which listens on link0/link1 only; {}'s address {a} in the migration network {} is neither (use type=insecure there, or a network holding link0 or link1)",
            self.config.name,
            s.network.as_deref().unwrap_or_default()
        )))
    }

    /// Whether a VM with config `text` runs its QEMU in this node's guest namespace.
    pub(crate) fn qemu_in_netns(&self, text: &str) -> bool {
        self.config.guest_netns.is_some()
            && KeyValueConfig::parse(text)
                .ok()
                .and_then(|kv| super::super::nics::bridged_nics(&kv).ok())
                .is_some_and(|n| !n.is_empty())
    }
}

/// Target side: listens on `addr` (host namespace) for one plain-TCP migration stream and
/// pipes it into QEMU's incoming Unix socket `sock`. The address listened on.
pub(crate) async fn relay_tcp_to_unix(
    addr: IpAddr,
    sock: PathBuf,
) -> Result<SocketAddr, NodeError> {
    let listener = TcpListener::bind((addr, 0))
        .await
        .map_err(NodeError::failed(format!(
            "cannot listen on {addr} for the migration"
        )))?;
    let local = listener.local_addr().map_err(NodeError::internal)?;
    tokio::spawn(async move {
        let accepted = tokio::time::timeout(TUNNEL_ACCEPT_TIMEOUT, listener.accept()).await;
        let Ok(Ok((mut tcp, peer))) = accepted else {
            tracing::warn!(%local, "no migration stream arrived");
            return;
        };
        let _ = tcp.set_nodelay(true);
        tracing::info!(%local, %peer, "insecure migration stream accepted");
        match UnixStream::connect(&sock).await {
            Ok(mut qemu_side) => {
                let _ = tokio::io::copy_bidirectional_with_sizes(
                    &mut tcp,
                    &mut qemu_side,
                    super::MIGRATION_COPY_BUFFER,
                    super::MIGRATION_COPY_BUFFER,
                )
                .await;
            }
            Err(e) => tracing::warn!("cannot reach QEMU's {}: {e}", sock.display()),
        }
    });
    Ok(local)
}

/// Source side: listens on QEMU's outgoing Unix socket `sock` and pipes the stream to
/// `target` over plain TCP from `local`.
pub(crate) fn relay_unix_to_tcp(
    sock: PathBuf,
    local: IpAddr,
    target: SocketAddr,
) -> Result<(), NodeError> {
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).map_err(NodeError::failed(format!(
        "cannot listen on {}",
        sock.display()
    )))?;
    tokio::spawn(async move {
        let accepted = tokio::time::timeout(TUNNEL_ACCEPT_TIMEOUT, listener.accept()).await;
        let _ = std::fs::remove_file(&sock);
        let Ok(Ok((mut qemu_side, _))) = accepted else {
            return;
        };
        let connected = async {
            let socket = if target.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }?;
            socket.bind(SocketAddr::new(local, 0))?;
            socket.connect(target).await
        };
        match connected.await {
            Ok(mut tcp) => {
                let _ = tcp.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional_with_sizes(
                    &mut qemu_side,
                    &mut tcp,
                    super::MIGRATION_COPY_BUFFER,
                    super::MIGRATION_COPY_BUFFER,
                )
                .await;
            }
            Err(e) => tracing::warn!("insecure migration stream to {target} failed: {e}"),
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_a_migration_network() {
        let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
        assert!(in_cidr("10.1.0.0/16", ip("10.1.200.3")));
        assert!(!in_cidr("10.1.0.0/16", ip("10.2.0.3")));
        assert!(in_cidr("0.0.0.0/0", ip("192.0.2.1")));
        assert!(in_cidr("10.0.0.5/32", ip("10.0.0.5")));
        assert!(!in_cidr("10.0.0.5/33", ip("10.0.0.5")));
        assert!(in_cidr("fd00::/8", ip("fd12::1")));
        assert!(!in_cidr("fd00::/8", ip("10.0.0.1")));
        let mine = [ip("127.0.125.1"), ip("127.0.126.1")];
        assert_eq!(address_in("127.0.126.0/24", &mine), Some(ip("127.0.126.1")));
        assert_eq!(address_in("10.9.0.0/24", &mine), None);
    }
}
