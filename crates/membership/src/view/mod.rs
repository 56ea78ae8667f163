//! The pure membership state: who was heard when on which link, replay
//! protection, RTT and clock-offset estimates, and what each round sends
//! (all-to-all or gossip, see `gossip`). No I/O; time is passed in.

mod round;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use brigade_api::membership::{DropCounters, LinkStatus, PeerStatus};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::gossip::{self, Mode};
use crate::packet::{Heartbeat, Packet};

pub use round::Outgoing;

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
    /// Last packet from the peer itself on this link.
    last_heard: Option<Instant>,
    /// Last word of the peer on this link: heard ourselves, or through a digest (gossip mode).
    last_seen: Option<Instant>,
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
    /// Its last accepted packet was version 1: an older release, sent version 1 every round.
    legacy: bool,
}

/// What this node knows of the others.
#[derive(Debug)]
pub struct MemberView {
    me: u64,
    my_name: String,
    node_timeout: Duration,
    peers: BTreeMap<u64, PeerTrack>,
    pub counters: DropCounters,
    /// This process's start (see `Heartbeat::boot`).
    boot: u64,
    /// Sequence number of the last packet sent.
    seq: u64,
    /// Draws the peers probed in gossip mode.
    rng: StdRng,
    /// Where the next digest starts (entries rotate through packets).
    digest_cursor: usize,
}

/// Why an authentic packet was still dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Unknown,
    Replay,
}

impl MemberView {
    /// The view of node `me`, whose process started at `boot`.
    pub fn new(me: u64, my_name: &str, node_timeout: Duration, boot: u64) -> Self {
        MemberView {
            me,
            my_name: my_name.to_string(),
            node_timeout,
            peers: BTreeMap::new(),
            counters: DropCounters::default(),
            boot,
            seq: 0,
            rng: StdRng::seed_from_u64(boot ^ me.rotate_left(32)),
            digest_cursor: 0,
        }
    }

    /// All-to-all or gossip, by cluster size.
    pub fn mode(&self) -> Mode {
        gossip::mode(self.peers.len())
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
                    legacy: false,
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

    /// Takes an authentic version-1 heartbeat received at `now` (monotonic) / `now_ns` (wall).
    pub fn on_heartbeat(
        &mut self,
        hb: &Heartbeat,
        now: Instant,
        now_ns: i64,
    ) -> Result<(), Rejection> {
        self.on_packet(&Packet::v1(*hb), now, now_ns).map(|_| ())
    }

    /// Takes an authentic packet of either version; returns the answer to send, if any
    /// (a probe in gossip mode is answered at once).
    pub fn on_packet(
        &mut self,
        p: &Packet,
        now: Instant,
        now_ns: i64,
    ) -> Result<Option<Outgoing>, Rejection> {
        self.accept(p, now, now_ns)?;
        if self.mode() == Mode::Gossip {
            let offset = self.peers.get(&p.hb.from).and_then(|t| t.offset_ms);
            let transit = gossip::transit_ms(now_ns, p.hb.sent_ns, offset);
            self.merge_digest(p.hb.from, &p.digest, transit, now);
        }
        Ok(self.answer(p, now, now_ns))
    }

    /// Replay protection and the direct facts of one packet: liveness, RTT, offset.
    fn accept(&mut self, p: &Packet, now: Instant, now_ns: i64) -> Result<(), Rejection> {
        let hb = &p.hb;
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
        peer.legacy = p.version == crate::packet::VERSION_1;
        let link = &mut peer.links[hb.link as usize];
        link.last_seq = hb.seq;
        link.last_heard = Some(now);
        link.last_seen = gossip::fresher(link.last_seen, Some(now));
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

    /// Takes what a digest from `from` says: word of a node only ever gets fresher.
    fn merge_digest(
        &mut self,
        from: u64,
        digest: &[crate::packet::DigestEntry],
        transit_ms: u32,
        now: Instant,
    ) {
        for e in digest {
            if e.id == self.me || e.id == from {
                continue;
            }
            let Some(peer) = self.peers.get_mut(&e.id) else {
                continue;
            };
            for (l, age) in peer.links.iter_mut().zip(&e.ages_ms) {
                let age = gossip::arrived_age_ms(*age, transit_ms);
                l.last_seen = gossip::fresher(l.last_seen, gossip::seen_at(now, age));
            }
        }
    }

    fn link_up(&self, l: &LinkTrack, now: Instant) -> bool {
        l.last_seen
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
                        .last_seen
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
mod tests;
