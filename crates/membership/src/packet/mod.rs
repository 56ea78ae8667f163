//! The heartbeat packet: a fixed binary layout followed by an HMAC-SHA256 tag.
//!
//! ```text
//! magic "BRHB" | version u8 | link u8 | from u64 | to u64 | boot u64 | seq u64
//! | sent_ns i64 | echo_seq u64 | echo_sent_ns i64 | echo_recv_ns i64 | tag [32]
//! ```
//! Times are wall-clock nanoseconds since the epoch, used only to estimate
//! RTT and clock offset (never for safety decisions). That is version 1, what
//! every release before gossip speaks; version 2 ([`digest`]) appends flags and
//! a liveness digest and is sent only to peers that have sent version 2.

pub mod digest;

pub use digest::{DigestEntry, Packet, FLAG_ACK, FLAG_PROBE, MAX_PACKET_LEN, VERSION_2};

use hmac::{Hmac, Mac};
use sha2::Sha256;

const MAGIC: &[u8; 4] = b"BRHB";
/// The fixed layout every release speaks.
pub const VERSION_1: u8 = 1;
const VERSION: u8 = VERSION_1;
const BODY_LEN: usize = 4 + 1 + 1 + 8 * 8;
const TAG_LEN: usize = 32;
/// Exact size of every heartbeat packet.
pub const PACKET_LEN: usize = BODY_LEN + TAG_LEN;

/// One heartbeat from `from` to `to` on link `link`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub link: u8,
    pub from: u64,
    pub to: u64,
    /// Identifies the sender's process start (wall ns at start); grows across restarts.
    pub boot: u64,
    /// Increases by one per packet sent by this process.
    pub seq: u64,
    pub sent_ns: i64,
    /// The last heartbeat received from `to` on this link (0 if none): its seq,
    /// its send time (the peer's clock) and when we received it (our clock).
    pub echo_seq: u64,
    pub echo_sent_ns: i64,
    pub echo_recv_ns: i64,
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("wrong length")]
    Length,
    #[error("bad magic or version")]
    Magic,
    #[error("authentication failed")]
    Auth,
}

type HmacSha256 = Hmac<Sha256>;

// Infallible: HMAC takes keys of any length (RFC 2104 hashes long ones, pads short ones).
#[allow(clippy::expect_used)]
fn mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

impl Heartbeat {
    /// Serializes and signs.
    pub fn encode(&self, key: &[u8]) -> [u8; PACKET_LEN] {
        let mut out = [0u8; PACKET_LEN];
        self.write_body(&mut out[..BODY_LEN], VERSION);
        let mut m = mac(key);
        m.update(&out[..BODY_LEN]);
        out[BODY_LEN..].copy_from_slice(&m.finalize().into_bytes());
        out
    }

    /// Writes magic, `version` and the fixed fields into `out` (`BODY_LEN` bytes).
    fn write_body(&self, out: &mut [u8], version: u8) {
        out[0..4].copy_from_slice(MAGIC);
        out[4] = version;
        out[5] = self.link;
        let fields: [u64; 8] = [
            self.from,
            self.to,
            self.boot,
            self.seq,
            self.sent_ns as u64,
            self.echo_seq,
            self.echo_sent_ns as u64,
            self.echo_recv_ns as u64,
        ];
        for (i, f) in fields.iter().enumerate() {
            out[6 + i * 8..14 + i * 8].copy_from_slice(&f.to_be_bytes());
        }
    }

    /// Parses the fixed fields of an already verified body.
    fn read_body(buf: &[u8]) -> Heartbeat {
        let field = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[6 + i * 8..14 + i * 8]);
            u64::from_be_bytes(b)
        };
        Heartbeat {
            link: buf[5],
            from: field(0),
            to: field(1),
            boot: field(2),
            seq: field(3),
            sent_ns: field(4) as i64,
            echo_seq: field(5),
            echo_sent_ns: field(6) as i64,
            echo_recv_ns: field(7) as i64,
        }
    }

    /// Verifies and parses; anything else is an error (never a panic).
    pub fn decode(buf: &[u8], key: &[u8]) -> Result<Heartbeat, PacketError> {
        if buf.len() != PACKET_LEN {
            return Err(PacketError::Length);
        }
        if &buf[0..4] != MAGIC || buf[4] != VERSION {
            return Err(PacketError::Magic);
        }
        let mut m = mac(key);
        m.update(&buf[..BODY_LEN]);
        m.verify_slice(&buf[BODY_LEN..])
            .map_err(|_| PacketError::Auth)?;
        Ok(Heartbeat::read_body(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hb() -> Heartbeat {
        Heartbeat {
            link: 1,
            from: 2,
            to: 3,
            boot: 4,
            seq: 5,
            sent_ns: -6,
            echo_seq: 7,
            echo_sent_ns: 8,
            echo_recv_ns: 9,
        }
    }

    #[test]
    fn round_trip_and_tampering() {
        let key = b"cluster key";
        let p = hb().encode(key);
        assert_eq!(Heartbeat::decode(&p, key), Ok(hb()));
        assert_eq!(Heartbeat::decode(&p, b"other key"), Err(PacketError::Auth));
        assert_eq!(
            Heartbeat::decode(&p[..PACKET_LEN - 1], key),
            Err(PacketError::Length)
        );
        let mut flipped = p;
        flipped[20] ^= 1;
        assert_eq!(Heartbeat::decode(&flipped, key), Err(PacketError::Auth));
        let mut magic = p;
        magic[0] = b'X';
        assert_eq!(Heartbeat::decode(&magic, key), Err(PacketError::Magic));
    }

    proptest! {
        #[test]
        fn garbage_never_panics_and_never_verifies(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert!(Heartbeat::decode(&bytes, b"k").is_err());
        }

        #[test]
        fn any_heartbeat_round_trips(link in any::<u8>(), from in any::<u64>(), seq in any::<u64>(), sent in any::<i64>()) {
            let h = Heartbeat { link, from, seq, sent_ns: sent, ..hb() };
            prop_assert_eq!(Heartbeat::decode(&h.encode(b"k"), b"k"), Ok(h));
        }
    }
}
