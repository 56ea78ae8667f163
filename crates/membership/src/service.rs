//! The UDP edge: one socket per link bound to the node's link address; each
//! second the view's round is sent (every peer, or a few in gossip mode) and
//! probes are answered as they arrive.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;

use crate::packet::{Packet, PacketError, MAX_PACKET_LEN};
use crate::view::{DropCounters, MemberView, Outgoing, PeerStatus};

pub use crate::view::PeerConfig as Peer;

/// Default UDP port (corosync's).
pub const DEFAULT_HEARTBEAT_PORT: u16 = 5405;
/// How often heartbeats are sent.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// What the membership service needs.
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    pub node_id: u64,
    pub node_name: String,
    /// This node's address per link (index = link number).
    pub links: Vec<IpAddr>,
    pub port: u16,
    pub node_timeout: Duration,
    pub interval: Duration,
}

/// A running membership service.
pub struct Membership {
    view: Mutex<MemberView>,
    key: RwLock<Vec<u8>>,
    sockets: Vec<Arc<UdpSocket>>,
}

/// Wall-clock nanoseconds since the epoch (only for RTT and offset estimates).
pub fn wall_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Membership {
    /// Binds one socket per link and starts sending and receiving.
    pub async fn start(cfg: MembershipConfig) -> std::io::Result<Arc<Membership>> {
        let mut sockets = Vec::new();
        for ip in &cfg.links {
            let s = UdpSocket::bind(SocketAddr::new(*ip, cfg.port))
                .await
                .map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("cannot bind heartbeat socket {ip}:{}: {e}", cfg.port),
                    )
                })?;
            sockets.push(Arc::new(s));
        }
        let m = Arc::new(Membership {
            view: Mutex::new(MemberView::new(
                cfg.node_id,
                &cfg.node_name,
                cfg.node_timeout,
                wall_ns().max(1) as u64,
            )),
            key: RwLock::new(Vec::new()),
            sockets,
        });
        for (link, sock) in m.sockets.iter().enumerate() {
            let weak = Arc::downgrade(&m);
            let sock = sock.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; MAX_PACKET_LEN + 1];
                loop {
                    let Ok((n, _from)) = sock.recv_from(&mut buf).await else {
                        continue;
                    };
                    let Some(m) = weak.upgrade() else { return };
                    if let Some((addr, answer)) = m.receive(&buf[..n], link as u8) {
                        let _ = sock.send_to(&answer, addr).await;
                    }
                }
            });
        }
        let weak = Arc::downgrade(&m);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(cfg.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let Some(m) = weak.upgrade() else { return };
                m.send_round().await;
            }
        });
        Ok(m)
    }

    fn view(&self) -> MutexGuard<'_, MemberView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the cluster key (from priv/authkey); until then nothing is sent or accepted.
    pub fn set_key(&self, key: Vec<u8>) {
        *self.key.write().unwrap_or_else(|p| p.into_inner()) = key;
    }

    pub fn set_peers(&self, peers: Vec<Peer>) {
        self.view().set_peers(peers);
    }

    pub fn set_node_timeout(&self, t: Duration) {
        self.view().set_node_timeout(t);
    }

    /// Takes one datagram; returns the encoded answer to send back, if any.
    fn receive(&self, buf: &[u8], socket_link: u8) -> Option<(SocketAddr, Vec<u8>)> {
        let key = self.key.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut view = self.view();
        if key.is_empty() {
            view.counters.dropped_auth += 1;
            return None;
        }
        match Packet::decode(buf, &key) {
            Ok(p) if p.hb.link == socket_link => {
                let answer = view.on_packet(&p, Instant::now(), wall_ns()).ok()??;
                (answer.link == socket_link).then(|| (answer.addr, answer.packet.encode(&key)))
            }
            Ok(_) => {
                view.counters.dropped_unknown += 1;
                None
            }
            Err(PacketError::Auth) => {
                view.counters.dropped_auth += 1;
                None
            }
            Err(_) => {
                view.counters.dropped_malformed += 1;
                None
            }
        }
    }

    async fn send_round(&self) {
        let key = self.key.read().unwrap_or_else(|p| p.into_inner()).clone();
        if key.is_empty() {
            return;
        }
        let packets: Vec<Outgoing> = self.view().round(Instant::now(), wall_ns());
        for o in packets {
            if let Some(sock) = self.sockets.get(usize::from(o.link)) {
                let _ = sock.send_to(&o.packet.encode(&key), o.addr).await;
            }
        }
    }

    pub fn status(&self) -> Vec<PeerStatus> {
        self.view().status(Instant::now())
    }

    pub fn is_alive(&self, id: u64) -> bool {
        self.view().is_alive(id, Instant::now())
    }

    pub fn counters(&self) -> DropCounters {
        self.view().counters.clone()
    }

    pub fn node_timeout(&self) -> Duration {
        self.view().node_timeout()
    }
}
