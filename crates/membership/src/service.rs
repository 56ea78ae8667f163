//! The UDP edge: one socket per link bound to the node's link address,
//! heartbeats sent every second to every peer on every link.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;

use crate::packet::{Heartbeat, PacketError, PACKET_LEN};
use crate::view::{DropCounters, MemberView, PeerStatus};

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
    seq: AtomicU64,
    boot: u64,
    sockets: Vec<Arc<UdpSocket>>,
    me: u64,
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
            )),
            key: RwLock::new(Vec::new()),
            seq: AtomicU64::new(0),
            boot: wall_ns().max(1) as u64,
            sockets,
            me: cfg.node_id,
        });
        for (link, sock) in m.sockets.iter().enumerate() {
            let weak = Arc::downgrade(&m);
            let sock = sock.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                loop {
                    let Ok((n, _from)) = sock.recv_from(&mut buf).await else {
                        continue;
                    };
                    let Some(m) = weak.upgrade() else { return };
                    m.receive(&buf[..n], link as u8);
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

    fn receive(&self, buf: &[u8], socket_link: u8) {
        let key = self.key.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut view = self.view();
        if key.is_empty() {
            view.counters.dropped_auth += 1;
            return;
        }
        match Heartbeat::decode(buf, &key) {
            Ok(hb) if hb.link == socket_link => {
                let _ = view.on_heartbeat(&hb, Instant::now(), wall_ns());
            }
            Ok(_) => view.counters.dropped_unknown += 1,
            Err(PacketError::Auth) => view.counters.dropped_auth += 1,
            Err(_) => view.counters.dropped_malformed += 1,
        }
    }

    async fn send_round(&self) {
        let key = self.key.read().unwrap_or_else(|p| p.into_inner()).clone();
        if key.is_empty() {
            return;
        }
        let packets: Vec<(usize, SocketAddr, [u8; PACKET_LEN])> = {
            let view = self.view();
            view.targets()
                .into_iter()
                .filter(|(_, link, _)| (*link as usize) < self.sockets.len())
                .map(|(peer, link, addr)| {
                    let (echo_seq, echo_sent_ns, echo_recv_ns) = view.echo_for(peer, link);
                    let hb = Heartbeat {
                        link,
                        from: self.me,
                        to: peer,
                        boot: self.boot,
                        seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
                        sent_ns: wall_ns(),
                        echo_seq,
                        echo_sent_ns,
                        echo_recv_ns,
                    };
                    (link as usize, addr, hb.encode(&key))
                })
                .collect()
        };
        for (link, addr, p) in packets {
            let _ = self.sockets[link].send_to(&p, addr).await;
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
