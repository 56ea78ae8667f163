//! The pure membership state: who was heard when on which link, replay
//! protection, RTT and clock-offset estimates. No I/O; time is passed in.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use brigade_api::membership::{DropCounters, LinkStatus, PeerStatus};

use crate::packet::Heartbeat;

/// Clock offset above which a peer is flagged with a warning.
pub const CLOCK_WARN: Duration = Duration::from_secs(1);
/// Clock offset above which a peer raises an alarm.
pub const CLOCK_ALARM: Duration = Duration::from_secs(10);
/// Weight of a new RTT sample in the moving average.
const RTT_SMOOTHING: f64 = 0.3;

/// A peer as configured (from cluster.conf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub id: u64,
    pub name: String,
    /// Heartbeat address per link (index = link number).
    pub links: Vec<Option<SocketAddr>>,
}

#[derive(Debug, Default, Clone)]
struct LinkTrack {
    last_heard: Option<Instant>,
    last_seq: u64,
    /// The last packet received on this link: (seq, its send time, our receive time).
    last_recv: Option<(u64, i64, i64)>,
    rtt_ms: Option<f64>,
}

#[derive(Debug, Clone)]
struct PeerTrack {
    config: PeerConfig,
    boot: u64,
    links: Vec<LinkTrack>,
    offset_ms: Option<f64>,
    /// Round-trip time of the sample the offset came from (smaller is more precise).
    offset_rtt_ms: f64,
}

/// What this node knows of the others.
#[derive(Debug)]
pub struct MemberView {
    me: u64,
    my_name: String,
    node_timeout: Duration,
    peers: BTreeMap<u64, PeerTrack>,
    pub counters: DropCounters,
}

/// Why an authentic packet was still dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Unknown,
    Replay,
}

impl MemberView {
    pub fn new(me: u64, my_name: &str, node_timeout: Duration) -> Self {
        MemberView {
            me,
            my_name: my_name.to_string(),
            node_timeout,
            peers: BTreeMap::new(),
            counters: DropCounters::default(),
        }
    }

    pub fn set_node_timeout(&mut self, t: Duration) {
        self.node_timeout = t;
    }

    pub fn node_timeout(&self) -> Duration {
        self.node_timeout
    }

    /// Replaces the peer list, keeping what is known of peers that stay.
    pub fn set_peers(&mut self, peers: Vec<PeerConfig>) {
        let mut next = BTreeMap::new();
        for p in peers.into_iter().filter(|p| p.id != self.me) {
            let track = match self.peers.remove(&p.id) {
                Some(mut t) => {
                    t.links.resize(p.links.len(), LinkTrack::default());
                    t.config = p;
                    t
                }
                None => PeerTrack {
                    links: vec![LinkTrack::default(); p.links.len()],
                    config: p,
                    boot: 0,
                    offset_ms: None,
                    offset_rtt_ms: f64::MAX,
                },
            };
            next.insert(track.config.id, track);
        }
        self.peers = next;
    }

    /// The peers to send to: (id, link, address).
    pub fn targets(&self) -> Vec<(u64, u8, SocketAddr)> {
        let mut out = Vec::new();
        for p in self.peers.values() {
            for (i, a) in p.config.links.iter().enumerate() {
                if let Some(a) = a {
                    out.push((p.config.id, i as u8, *a));
                }
            }
        }
        out
    }

    /// The echo to put in our next packet to `peer` on `link`.
    pub fn echo_for(&self, peer: u64, link: u8) -> (u64, i64, i64) {
        self.peers
            .get(&peer)
            .and_then(|p| p.links.get(link as usize))
            .and_then(|l| l.last_recv)
            .unwrap_or((0, 0, 0))
    }

    /// Takes an authentic heartbeat received at `now` (monotonic) / `now_ns` (wall).
    pub fn on_heartbeat(
        &mut self,
        hb: &Heartbeat,
        now: Instant,
        now_ns: i64,
    ) -> Result<(), Rejection> {
        if hb.to != self.me {
            self.counters.dropped_unknown += 1;
            return Err(Rejection::Unknown);
        }
        let Some(peer) = self.peers.get_mut(&hb.from) else {
            self.counters.dropped_unknown += 1;
            return Err(Rejection::Unknown);
        };
        let Some(link) = peer.links.get_mut(hb.link as usize) else {
            self.counters.dropped_unknown += 1;
            return Err(Rejection::Unknown);
        };
        if hb.boot < peer.boot || (hb.boot == peer.boot && hb.seq <= link.last_seq) {
            self.counters.dropped_replay += 1;
            return Err(Rejection::Replay);
        }
        if hb.boot > peer.boot {
            // A restart of the peer: forget its old sequence numbers on every link.
            peer.boot = hb.boot;
            for l in &mut peer.links {
                l.last_seq = 0;
                l.last_recv = None;
            }
        }
        let link = &mut peer.links[hb.link as usize];
        link.last_seq = hb.seq;
        link.last_heard = Some(now);
        link.last_recv = Some((hb.seq, hb.sent_ns, now_ns));
        self.counters.received += 1;
        if hb.echo_seq != 0 {
            // NTP: t1 our send, t2 their receive, t3 their send, t4 our receive.
            let (t1, t2, t3, t4) = (
                hb.echo_sent_ns as f64,
                hb.echo_recv_ns as f64,
                hb.sent_ns as f64,
                now_ns as f64,
            );
            let rtt_ms = ((t4 - t1) - (t3 - t2)).max(0.0) / 1e6;
            let offset_ms = f64::midpoint(t2 - t1, t3 - t4) / 1e6;
            link.rtt_ms = Some(match link.rtt_ms {
                Some(old) => old * (1.0 - RTT_SMOOTHING) + rtt_ms * RTT_SMOOTHING,
                None => rtt_ms,
            });
            // Prefer precise samples, but let the estimate follow real changes.
            peer.offset_rtt_ms = (peer.offset_rtt_ms * 1.1).min(f64::MAX / 2.0);
            if rtt_ms <= peer.offset_rtt_ms || peer.offset_ms.is_none() {
                peer.offset_ms = Some(offset_ms);
                peer.offset_rtt_ms = rtt_ms.max(0.001);
            }
        }
        Ok(())
    }

    fn link_up(&self, l: &LinkTrack, now: Instant) -> bool {
        l.last_heard
            .is_some_and(|t| now.saturating_duration_since(t) < self.node_timeout)
    }

    /// Whether a peer was heard on any link within the node timeout (we are always alive).
    pub fn is_alive(&self, id: u64, now: Instant) -> bool {
        id == self.me
            || self
                .peers
                .get(&id)
                .is_some_and(|p| p.links.iter().any(|l| self.link_up(l, now)))
    }

    /// Status of every node, ourselves included.
    pub fn status(&self, now: Instant) -> Vec<PeerStatus> {
        let mut out = vec![PeerStatus {
            id: self.me,
            name: self.my_name.clone(),
            alive: true,
            local: true,
            links: Vec::new(),
            clock_offset_ms: Some(0.0),
            clock: "ok".into(),
        }];
        for p in self.peers.values() {
            let links = p
                .config
                .links
                .iter()
                .zip(&p.links)
                .enumerate()
                .map(|(i, (addr, l))| LinkStatus {
                    link: i as u8,
                    address: addr.map(|a| a.ip().to_string()),
                    up: self.link_up(l, now),
                    rtt_ms: l.rtt_ms,
                    last_heard_ms: l
                        .last_heard
                        .map(|t| now.saturating_duration_since(t).as_millis() as u64),
                })
                .collect();
            out.push(PeerStatus {
                id: p.config.id,
                name: p.config.name.clone(),
                alive: p.links.iter().any(|l| self.link_up(l, now)),
                local: false,
                links,
                clock_offset_ms: p.offset_ms,
                clock: clock_state(p.offset_ms).into(),
            });
        }
        out.sort_by_key(|p| p.id);
        out
    }
}

/// "ok", "warning" or "alarm" for an offset.
pub fn clock_state(offset_ms: Option<f64>) -> &'static str {
    match offset_ms.map(f64::abs) {
        Some(o) if o > CLOCK_ALARM.as_millis() as f64 => "alarm",
        Some(o) if o > CLOCK_WARN.as_millis() as f64 => "warning",
        _ => "ok",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    fn view() -> MemberView {
        let mut v = MemberView::new(1, "n1", Duration::from_secs(10));
        let addr = |s: &str| Some(s.parse::<SocketAddr>().expect("addr"));
        v.set_peers(vec![
            PeerConfig {
                id: 1,
                name: "n1".into(),
                links: vec![addr("127.0.0.1:5405")],
            },
            PeerConfig {
                id: 2,
                name: "n2".into(),
                links: vec![addr("127.0.0.2:5405"), addr("10.0.0.2:5405")],
            },
        ]);
        v
    }

    fn hb(seq: u64, link: u8) -> Heartbeat {
        Heartbeat {
            link,
            from: 2,
            to: 1,
            boot: 100,
            seq,
            sent_ns: 0,
            echo_seq: 0,
            echo_sent_ns: 0,
            echo_recv_ns: 0,
        }
    }

    #[test]
    fn liveness_follows_the_node_timeout() {
        let mut v = view();
        let t0 = Instant::now();
        assert!(!v.is_alive(2, t0));
        v.on_heartbeat(&hb(1, 0), t0, 0).expect("accepted");
        assert!(v.is_alive(2, t0 + Duration::from_secs(9)));
        assert!(!v.is_alive(2, t0 + Duration::from_secs(10)));
        assert!(v.is_alive(1, t0), "we are always alive");
        assert_eq!(v.targets().len(), 2, "ourselves excluded, two links to n2");
    }

    #[test]
    fn replays_and_strangers_are_dropped_and_counted() {
        let mut v = view();
        let t0 = Instant::now();
        v.on_heartbeat(&hb(5, 0), t0, 0).expect("accepted");
        assert_eq!(v.on_heartbeat(&hb(5, 0), t0, 0), Err(Rejection::Replay));
        assert_eq!(v.on_heartbeat(&hb(4, 0), t0, 0), Err(Rejection::Replay));
        v.on_heartbeat(&hb(3, 1), t0, 0)
            .expect("each link has its own sequence");
        assert_eq!(
            v.on_heartbeat(
                &Heartbeat {
                    boot: 99,
                    ..hb(50, 0)
                },
                t0,
                0
            ),
            Err(Rejection::Replay),
            "an older boot"
        );
        v.on_heartbeat(
            &Heartbeat {
                boot: 101,
                ..hb(1, 0)
            },
            t0,
            0,
        )
        .expect("a restart");
        assert_eq!(
            v.on_heartbeat(
                &Heartbeat {
                    from: 9,
                    ..hb(60, 0)
                },
                t0,
                0
            ),
            Err(Rejection::Unknown)
        );
        assert_eq!(
            v.on_heartbeat(&Heartbeat { to: 3, ..hb(61, 0) }, t0, 0),
            Err(Rejection::Unknown)
        );
        assert_eq!(
            v.on_heartbeat(&hb(62, 7), t0, 0),
            Err(Rejection::Unknown),
            "no link 7"
        );
        assert_eq!(v.counters.dropped_replay, 3);
        assert_eq!(v.counters.dropped_unknown, 3);
        assert_eq!(v.counters.received, 3);
    }

    #[test]
    fn offset_and_rtt_ntp_style() {
        let mut v = view();
        let t0 = Instant::now();
        // Peer clock is 15 s ahead; one-way delay 1 ms each way.
        // We sent at our t1 = 100 s; they received at their 115.001 s, sent back at 115.002 s;
        // we receive at our 100.003 s.
        let h = Heartbeat {
            echo_seq: 7,
            echo_sent_ns: 100 * SEC,
            echo_recv_ns: 115 * SEC + 1_000_000,
            sent_ns: 115 * SEC + 2_000_000,
            ..hb(1, 0)
        };
        v.on_heartbeat(&h, t0, 100 * SEC + 3_000_000)
            .expect("accepted");
        let s = v.status(t0);
        let n2 = &s[1];
        let off = n2.clock_offset_ms.expect("offset");
        assert!((off - 15_000.0).abs() < 0.01, "{off}");
        assert_eq!(n2.clock, "alarm");
        let rtt = n2.links[0].rtt_ms.expect("rtt");
        assert!((rtt - 2.0).abs() < 0.01, "{rtt}");
        assert!(n2.links[0].up && !n2.links[1].up);
        assert_eq!(clock_state(Some(1500.0)), "warning");
        assert_eq!(clock_state(Some(-20.0)), "ok");
    }
}
