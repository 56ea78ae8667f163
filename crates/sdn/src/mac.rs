//! PURE: MAC addresses: parsed, checked (no multicast, not all zero), generated stably
//! under Proxmox's OUI, printed.

use std::fmt;

use sha2::{Digest, Sha256};

/// Proxmox's MAC prefix (OUI) for generated addresses.
pub const PROXMOX_OUI: [u8; 3] = [0xBC, 0x24, 0x11];

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parses `XX:XX:XX:XX:XX:XX`; refuses multicast and all-zero addresses.
    pub fn parse(s: &str) -> Option<Mac> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return None;
        }
        let mut b = [0u8; 6];
        for (out, p) in b.iter_mut().zip(&parts) {
            if p.len() != 2 {
                return None;
            }
            *out = u8::from_str_radix(p, 16).ok()?;
        }
        (b[0] & 1 == 0 && b != [0; 6]).then_some(Mac(b))
    }

    /// A stable MAC from a seed (e.g. `"<cluster>/<vmid>/net0"`): Proxmox's OUI and 3 bytes of its SHA-256.
    pub fn generate(seed: &str) -> Mac {
        let h = Sha256::digest(seed.as_bytes());
        Mac([
            PROXMOX_OUI[0],
            PROXMOX_OUI[1],
            PROXMOX_OUI[2],
            h[0],
            h[1],
            h[2],
        ])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}
