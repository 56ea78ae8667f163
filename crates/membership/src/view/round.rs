//! What the view sends: each round's packets (all-to-all or gossip probes),
//! answers to probes, and the digest each version-2 packet carries.

use std::net::SocketAddr;
use std::time::Instant;

use super::MemberView;
use crate::gossip::{self, Mode, GOSSIP_FANOUT};
use crate::packet::digest::DIGEST_BUDGET;
use crate::packet::{DigestEntry, Heartbeat, Packet, FLAG_ACK, FLAG_PROBE, VERSION_1, VERSION_2};

/// One packet to send on `link` to `addr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub link: u8,
    pub addr: SocketAddr,
    pub packet: Packet,
}

impl MemberView {
    /// This round's packets: to every peer on every link (all-to-all), or to
    /// every version-1 peer and [`GOSSIP_FANOUT`] random others (gossip).
    pub fn round(&mut self, now: Instant, now_ns: i64) -> Vec<Outgoing> {
        let (peers, flags) = match self.mode() {
            Mode::AllToAll => (self.peers.keys().copied().collect::<Vec<_>>(), 0),
            Mode::Gossip => {
                let (legacy, current): (Vec<u64>, Vec<u64>) = self
                    .peers
                    .keys()
                    .copied()
                    .partition(|id| self.peers[id].legacy);
                let chosen = gossip::choose_probes(&current, &legacy, GOSSIP_FANOUT, &mut self.rng);
                (chosen, FLAG_PROBE)
            }
        };
        let mut out = Vec::new();
        for id in peers {
            let addrs: Vec<(u8, SocketAddr)> = self.peers[&id]
                .config
                .links
                .iter()
                .enumerate()
                .filter_map(|(i, a)| a.map(|a| (i as u8, a)))
                .collect();
            for (link, addr) in addrs {
                out.push(self.packet_to(id, link, addr, flags, now, now_ns));
            }
        }
        out
    }

    /// The answer to `p` if it is a gossip probe (answers are never answered).
    pub(super) fn answer(&mut self, p: &Packet, now: Instant, now_ns: i64) -> Option<Outgoing> {
        if self.mode() != Mode::Gossip
            || p.version != VERSION_2
            || p.flags & FLAG_PROBE == 0
            || p.flags & FLAG_ACK != 0
        {
            return None;
        }
        let addr = self
            .peers
            .get(&p.hb.from)?
            .config
            .links
            .get(usize::from(p.hb.link))
            .copied()
            .flatten()?;
        Some(self.packet_to(p.hb.from, p.hb.link, addr, FLAG_ACK, now, now_ns))
    }

    /// One packet to `peer` on `link`: version 1 to an older release, else version 2
    /// with `flags` and (gossip mode) the next window of the digest.
    fn packet_to(
        &mut self,
        peer: u64,
        link: u8,
        addr: SocketAddr,
        flags: u8,
        now: Instant,
        now_ns: i64,
    ) -> Outgoing {
        let (echo_seq, echo_sent_ns, echo_recv_ns) = self.echo_for(peer, link);
        self.seq += 1;
        let hb = Heartbeat {
            link,
            from: self.me,
            to: peer,
            boot: self.boot,
            seq: self.seq,
            sent_ns: now_ns,
            echo_seq,
            echo_sent_ns,
            echo_recv_ns,
        };
        let legacy = self.peers.get(&peer).is_some_and(|p| p.legacy);
        let packet = if legacy {
            Packet::v1(hb)
        } else {
            let digest = if self.mode() == Mode::Gossip {
                self.digest_for(peer, now)
            } else {
                Vec::new()
            };
            Packet {
                hb,
                version: VERSION_2,
                flags,
                digest,
            }
        };
        debug_assert!(packet.version == VERSION_1 || packet.version == VERSION_2);
        Outgoing { link, addr, packet }
    }

    /// The next window of what we know, leaving out `to` and nodes nobody has had
    /// word of within the node timeout (they carry no liveness).
    fn digest_for(&mut self, to: u64, now: Instant) -> Vec<DigestEntry> {
        let entries: Vec<DigestEntry> = self
            .peers
            .values()
            .filter(|p| p.config.id != to)
            .filter(|p| p.links.iter().any(|l| self.link_up(l, now)))
            .map(|p| DigestEntry {
                id: p.config.id,
                ages_ms: p
                    .links
                    .iter()
                    .map(|l| gossip::age_ms(now, l.last_seen))
                    .collect(),
            })
            .collect();
        let sizes: Vec<usize> = entries.iter().map(DigestEntry::wire_len).collect();
        let (window, next) = gossip::digest_window(&sizes, self.digest_cursor, DIGEST_BUDGET);
        self.digest_cursor = next;
        window.into_iter().map(|i| entries[i].clone()).collect()
    }
}
