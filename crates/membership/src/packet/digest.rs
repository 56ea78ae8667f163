//! Heartbeat version 2: the version-1 fields, then flags and a liveness digest.
//!
//! ```text
//! magic "BRHB" | version 2 | link u8 | the eight u64 fields of version 1
//! | flags u8 | count u16 | count × (id u64 | links u8 | links × age_ms u32) | tag [32]
//! ```
//! An entry says how long ago the sender last had word of node `id` on each
//! link, directly or through others (`u32::MAX`: never). A version-1 node drops
//! these packets as the wrong length; its own version-1 packets are understood,
//! and it is answered in version 1 (see `view`).

use hmac::Mac;

use super::{mac, Heartbeat, PacketError, BODY_LEN, MAGIC, TAG_LEN, VERSION};

/// The version this module speaks.
pub const VERSION_2: u8 = 2;
/// The sender asks for an immediate answer (it probes us this round; we may not probe it).
pub const FLAG_PROBE: u8 = 1;
/// This packet answers a probe; it is never answered itself.
pub const FLAG_ACK: u8 = 2;
/// Largest packet sent: fits one Ethernet frame (1500 MTU minus IP and UDP headers, with room).
pub const MAX_PACKET_LEN: usize = 1400;
/// The most links one entry may carry (the config allows fewer).
pub const MAX_LINKS: usize = 8;
/// Age meaning "never heard".
pub const NEVER: u32 = u32::MAX;
/// Flags and entry count after the version-1 body.
const HEADER_EXTRA: usize = 1 + 2;
/// Fixed part of one entry: id and link count.
const ENTRY_FIXED: usize = 8 + 1;

/// What the sender knows of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestEntry {
    pub id: u64,
    /// Per link: milliseconds since the sender last had word of `id` there ([`NEVER`]: never).
    pub ages_ms: Vec<u32>,
}

impl DigestEntry {
    /// Bytes this entry takes on the wire.
    pub fn wire_len(&self) -> usize {
        ENTRY_FIXED + 4 * self.ages_ms.len()
    }
}

/// A heartbeat of either version, as received or to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub hb: Heartbeat,
    /// 1 (fixed layout, no flags or digest) or 2.
    pub version: u8,
    pub flags: u8,
    pub digest: Vec<DigestEntry>,
}

/// Room for digest entries in one version-2 packet.
pub const DIGEST_BUDGET: usize = MAX_PACKET_LEN - BODY_LEN - HEADER_EXTRA - TAG_LEN;

impl Packet {
    /// A version-1 packet (what an old node understands).
    pub fn v1(hb: Heartbeat) -> Packet {
        Packet {
            hb,
            version: VERSION,
            flags: 0,
            digest: Vec::new(),
        }
    }

    /// Serializes and signs in the packet's version (flags and digest are dropped in version 1).
    pub fn encode(&self, key: &[u8]) -> Vec<u8> {
        if self.version == VERSION {
            return self.hb.encode(key).to_vec();
        }
        let digest: usize = self.digest.iter().map(DigestEntry::wire_len).sum();
        let mut out = vec![0u8; BODY_LEN + HEADER_EXTRA + digest + TAG_LEN];
        self.hb.write_body(&mut out[..BODY_LEN], VERSION_2);
        out[BODY_LEN] = self.flags;
        let count = u16::try_from(self.digest.len()).unwrap_or(u16::MAX);
        out[BODY_LEN + 1..BODY_LEN + 3].copy_from_slice(&count.to_be_bytes());
        let mut at = BODY_LEN + HEADER_EXTRA;
        for e in self.digest.iter().take(usize::from(count)) {
            out[at..at + 8].copy_from_slice(&e.id.to_be_bytes());
            let links = e.ages_ms.len().min(MAX_LINKS);
            out[at + 8] = links as u8;
            at += ENTRY_FIXED;
            for a in e.ages_ms.iter().take(links) {
                out[at..at + 4].copy_from_slice(&a.to_be_bytes());
                at += 4;
            }
        }
        out.truncate(at + TAG_LEN);
        let mut m = mac(key);
        m.update(&out[..at]);
        out[at..].copy_from_slice(&m.finalize().into_bytes());
        out
    }

    /// Verifies and parses either version; anything else is an error (never a panic).
    pub fn decode(buf: &[u8], key: &[u8]) -> Result<Packet, PacketError> {
        if buf.len() >= 5 && &buf[0..4] == MAGIC && buf[4] == VERSION {
            return Heartbeat::decode(buf, key).map(Packet::v1);
        }
        if buf.len() < BODY_LEN + HEADER_EXTRA + TAG_LEN || buf.len() > MAX_PACKET_LEN {
            return Err(PacketError::Length);
        }
        if &buf[0..4] != MAGIC || buf[4] != VERSION_2 {
            return Err(PacketError::Magic);
        }
        let signed = buf.len() - TAG_LEN;
        let mut m = mac(key);
        m.update(&buf[..signed]);
        m.verify_slice(&buf[signed..])
            .map_err(|_| PacketError::Auth)?;
        let hb = Heartbeat::read_body(buf);
        let flags = buf[BODY_LEN];
        let count = u16::from_be_bytes([buf[BODY_LEN + 1], buf[BODY_LEN + 2]]);
        let mut at = BODY_LEN + HEADER_EXTRA;
        let mut digest = Vec::with_capacity(usize::from(count).min(DIGEST_BUDGET / ENTRY_FIXED));
        for _ in 0..count {
            let fixed = buf.get(at..at + ENTRY_FIXED).ok_or(PacketError::Length)?;
            let mut id = [0u8; 8];
            id.copy_from_slice(&fixed[..8]);
            let links = usize::from(fixed[8]);
            if links > MAX_LINKS {
                return Err(PacketError::Length);
            }
            at += ENTRY_FIXED;
            let ages = buf.get(at..at + 4 * links).ok_or(PacketError::Length)?;
            at += 4 * links;
            digest.push(DigestEntry {
                id: u64::from_be_bytes(id),
                ages_ms: ages
                    .chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            });
        }
        if at != signed {
            return Err(PacketError::Length);
        }
        Ok(Packet {
            hb,
            version: VERSION_2,
            flags,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hb() -> Heartbeat {
        Heartbeat {
            link: 0,
            from: 2,
            to: 3,
            boot: 4,
            seq: 5,
            sent_ns: 6,
            echo_seq: 7,
            echo_sent_ns: 8,
            echo_recv_ns: 9,
        }
    }

    fn packet(entries: usize) -> Packet {
        Packet {
            hb: hb(),
            version: VERSION_2,
            flags: FLAG_PROBE,
            digest: (0..entries as u64)
                .map(|id| DigestEntry {
                    id,
                    ages_ms: vec![id as u32, NEVER],
                })
                .collect(),
        }
    }

    #[test]
    fn version_2_round_trips_and_is_authenticated() {
        let key = b"k";
        let p = packet(3);
        let wire = p.encode(key);
        assert_eq!(Packet::decode(&wire, key), Ok(p.clone()));
        assert_eq!(Packet::decode(&wire, b"other"), Err(PacketError::Auth));
        let mut flipped = wire.clone();
        flipped[BODY_LEN + 4] ^= 1;
        assert_eq!(Packet::decode(&flipped, key), Err(PacketError::Auth));
        assert_eq!(
            Packet::decode(&wire[..wire.len() - 1], key),
            Err(PacketError::Auth),
            "a cut tag does not verify"
        );
    }

    #[test]
    fn version_1_is_still_understood_and_sent_unchanged() {
        let key = b"k";
        let old = hb().encode(key);
        assert_eq!(Packet::decode(&old, key), Ok(Packet::v1(hb())));
        assert_eq!(Packet::v1(hb()).encode(key), old.to_vec());
        assert_eq!(
            Heartbeat::decode(&packet(1).encode(key), key),
            Err(PacketError::Length),
            "an old node refuses version 2 cleanly, as a wrong length"
        );
    }

    #[test]
    fn a_full_digest_fits_the_budget() {
        let per = packet(1).digest[0].wire_len();
        let p = packet(DIGEST_BUDGET / per);
        assert!(p.encode(b"k").len() <= MAX_PACKET_LEN);
        let too_long = vec![0u8; MAX_PACKET_LEN + 1];
        assert_eq!(Packet::decode(&too_long, b"k"), Err(PacketError::Length));
    }

    #[test]
    fn a_lying_count_is_refused_after_authentication() {
        let key = b"k";
        let mut p = packet(2).encode(key);
        p[BODY_LEN + 2] = 3;
        let signed = p.len() - TAG_LEN;
        let mut m = mac(key);
        m.update(&p[..signed]);
        p[signed..].copy_from_slice(&m.finalize().into_bytes());
        assert_eq!(Packet::decode(&p, key), Err(PacketError::Length));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            prop_assert!(Packet::decode(&bytes, b"k").is_err());
        }

        #[test]
        fn any_digest_round_trips(
            flags in any::<u8>(),
            entries in proptest::collection::vec((any::<u64>(), proptest::collection::vec(any::<u32>(), 0..=MAX_LINKS)), 0..20),
        ) {
            let p = Packet {
                hb: hb(),
                version: VERSION_2,
                flags,
                digest: entries.into_iter().map(|(id, ages_ms)| DigestEntry { id, ages_ms }).collect(),
            };
            prop_assert_eq!(Packet::decode(&p.encode(b"k"), b"k"), Ok(p));
        }
    }
}
