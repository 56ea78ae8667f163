//! Disk and memory sizes as Proxmox writes them: `32G`, `512M`, `1T`, plain numbers in GiB.

use crate::error::{GuestError, Result};

const KIB: u64 = 1024;

/// Parses a size into bytes. A bare number means GiB, as in Proxmox's disk sizes.
pub fn parse_bytes(s: &str) -> Result<u64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "G"),
    };
    let n: u64 = digits.parse().map_err(|_| {
        GuestError::Invalid(format!("invalid size {s:?}: expected e.g. 8G or 512M"))
    })?;
    let mult = match unit {
        "K" | "k" => KIB,
        "M" | "m" => KIB * KIB,
        "G" | "g" => KIB * KIB * KIB,
        "T" | "t" => KIB * KIB * KIB * KIB,
        _ => {
            return Err(GuestError::Invalid(format!(
                "invalid size {s:?}: unit must be K, M, G or T"
            )))
        }
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| GuestError::Invalid(format!("size {s:?} is too large")))?;
    if bytes == 0 {
        return Err(GuestError::Invalid(format!("size {s:?} must be positive")));
    }
    Ok(bytes)
}

/// Formats bytes as Proxmox does (`1G`, `512M`, `4K`), in the largest exact unit.
pub fn format_bytes(bytes: u64) -> String {
    for (unit, mult) in [
        ("T", KIB.pow(4)),
        ("G", KIB.pow(3)),
        ("M", KIB.pow(2)),
        ("K", KIB),
    ] {
        if bytes >= mult && bytes % mult == 0 {
            return format!("{}{unit}", bytes / mult);
        }
    }
    format!("{}K", bytes.div_ceil(KIB))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1G").expect("ok"), 1 << 30);
        assert_eq!(parse_bytes("512M").expect("ok"), 512 << 20);
        assert_eq!(parse_bytes("8").expect("ok"), 8 << 30);
        for bad in ["", "G", "1X", "-1G", "0", "99999999999T", "1.5G"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert_eq!(format_bytes(1 << 30), "1G");
        assert_eq!(format_bytes(1536 << 20), "1536M");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(kib in 1u64..(1 << 32)) {
            let bytes = kib * 1024;
            prop_assert_eq!(parse_bytes(&format_bytes(bytes)).expect("parses"), bytes);
        }
    }
}
