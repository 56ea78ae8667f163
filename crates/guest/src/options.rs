//! Proxmox property strings: `local:100/vm-100-disk-0.qcow2,size=1G,cache=none`.

use crate::error::{GuestError, Result};

/// A property string: an optional leading positional value, then `key=value` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyString {
    pub positional: Option<String>,
    pub pairs: Vec<(String, String)>,
}

impl PropertyString {
    /// Parses `what` (named in errors), accepting only `allowed` keys, each once.
    pub fn parse(what: &str, s: &str, allowed: &[&str]) -> Result<Self> {
        let mut out = PropertyString {
            positional: None,
            pairs: Vec::new(),
        };
        for (i, part) in s.split(',').enumerate() {
            if part.is_empty() {
                return Err(GuestError::Invalid(format!("{what}: empty item in {s:?}")));
            }
            match part.split_once('=') {
                Some((k, v)) => {
                    if !allowed.contains(&k) {
                        return Err(GuestError::Invalid(format!(
                            "{what}: unknown option {k:?} (known: {})",
                            allowed.join(", ")
                        )));
                    }
                    if v.is_empty() {
                        return Err(GuestError::Invalid(format!("{what}: {k} has no value")));
                    }
                    if out.get(k).is_some() {
                        return Err(GuestError::Invalid(format!("{what}: {k} given twice")));
                    }
                    out.pairs.push((k.to_string(), v.to_string()));
                }
                None if i == 0 => out.positional = Some(part.to_string()),
                None => {
                    return Err(GuestError::Invalid(format!(
                        "{what}: {part:?} is not key=value"
                    )))
                }
            }
        }
        Ok(out)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a Proxmox boolean (`0`/`1`, also `yes`/`no`, `on`/`off`, `true`/`false`).
pub fn parse_bool(what: &str, v: &str) -> Result<bool> {
    match v {
        "1" | "yes" | "on" | "true" => Ok(true),
        "0" | "no" | "off" | "false" => Ok(false),
        _ => Err(GuestError::Invalid(format!(
            "{what}: {v:?} is not a boolean (use 0 or 1)"
        ))),
    }
}

/// Parses an integer in `min..=max`.
pub fn parse_int(what: &str, v: &str, min: u64, max: u64) -> Result<u64> {
    let n: u64 = v
        .parse()
        .map_err(|_| GuestError::Invalid(format!("{what}: {v:?} is not a number")))?;
    if !(min..=max).contains(&n) {
        return Err(GuestError::Invalid(format!(
            "{what}: {n} is out of range {min}..{max}"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_strings() {
        let p = PropertyString::parse("scsi0", "local:vm-1,size=1G", &["size"]).expect("ok");
        assert_eq!(p.positional.as_deref(), Some("local:vm-1"));
        assert_eq!(p.get("size"), Some("1G"));
        for bad in ["a,,b", "a,size=", "a,bogus=1", "a,size=1,size=2", "a,b"] {
            assert!(PropertyString::parse("x", bad, &["size"]).is_err(), "{bad}");
        }
        assert!(parse_bool("onboot", "2").is_err());
        assert_eq!(parse_int("cores", "4", 1, 128).expect("ok"), 4);
        assert!(parse_int("cores", "0", 1, 128).is_err());
    }
}
