//! Free text inside user.cfg's colon-separated fields, percent-encoded as Proxmox's `encode_text` does.
//!
//! Bytes outside printable ASCII, ':' and '%' are written as `%XX`; so are spaces at either end
//! of a field (Proxmox trims fields when reading). Proxmox's files decode the same way.

/// Text that is not valid percent-encoded UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad percent-encoding in {0:?}")]
pub struct BadEncoding(pub String);

/// Encodes free text for one user.cfg field.
pub fn encode(text: &str) -> String {
    let bytes = text.as_bytes();
    let first_kept = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
    let last_kept = bytes.iter().rposition(|b| *b != b' ').map_or(0, |i| i + 1);
    let mut out = String::with_capacity(text.len());
    for (i, b) in bytes.iter().enumerate() {
        let edge_space = *b == b' ' && (i < first_kept || i >= last_kept);
        let unsafe_byte = !(0x20..=0x7e).contains(b) || *b == b':' || *b == b'%';
        if edge_space || unsafe_byte {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(*b));
        }
    }
    out
}

/// Decodes one field written by [`encode`] (or by Proxmox).
pub fn decode(field: &str) -> Result<String, BadEncoding> {
    let bad = || BadEncoding(field.to_string());
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = field.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn colons_and_unicode_are_escaped() {
        assert_eq!(encode("a:b ü"), "a%3Ab %C3%BC");
        assert_eq!(encode(" pad "), "%20pad%20");
        assert_eq!(encode("50%"), "50%25");
        assert_eq!(decode("a%3Ab %C3%BC").expect("valid"), "a:b ü");
        assert!(decode("%zz").is_err());
        assert!(decode("%4").is_err());
        assert!(decode("%FF").is_err());
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(text in "\\PC{0,40}") {
            let encoded = encode(&text);
            prop_assert!(!encoded.contains(':') && !encoded.contains('\n'));
            prop_assert_eq!(encoded.trim(), encoded.as_str());
            prop_assert_eq!(decode(&encoded).expect("own output"), text);
        }
    }
}
