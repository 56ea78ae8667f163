//! Validated identifiers: node names and guest ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::FormatError;

/// Longest node name accepted (a DNS label).
pub const NODE_NAME_MAX: usize = 63;
/// Smallest guest id, as in Proxmox.
pub const VMID_MIN: u32 = 100;
/// Largest guest id, as in Proxmox.
pub const VMID_MAX: u32 = 999_999_999;

/// A node name: a DNS label (lowercase letters, digits, '-'; starts with a letter).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeName(String);

impl NodeName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeName {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let starts_with_letter = s.chars().next().is_some_and(|c| c.is_ascii_lowercase());
        if s.is_empty()
            || s.len() > NODE_NAME_MAX
            || !valid_chars
            || !starts_with_letter
            || s.ends_with('-')
        {
            return Err(FormatError::Invalid(format!(
                "invalid node name {s:?}: use 1-{NODE_NAME_MAX} lowercase letters, digits and '-', starting with a letter"
            )));
        }
        Ok(NodeName(s.to_string()))
    }
}

impl TryFrom<String> for NodeName {
    type Error = FormatError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<NodeName> for String {
    fn from(n: NodeName) -> String {
        n.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A guest id (VMID), 100 to 999999999 as in Proxmox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct VmId(u32);

impl VmId {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for VmId {
    type Error = FormatError;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        if (VMID_MIN..=VMID_MAX).contains(&v) {
            Ok(VmId(v))
        } else {
            Err(FormatError::Invalid(format!(
                "invalid VMID {v}: must be between {VMID_MIN} and {VMID_MAX}"
            )))
        }
    }
}

impl From<VmId> for u32 {
    fn from(v: VmId) -> u32 {
        v.0
    }
}

impl FromStr for VmId {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v: u32 = s
            .parse()
            .map_err(|_| FormatError::Invalid(format!("invalid VMID {s:?}: not a number")))?;
        VmId::try_from(v)
    }
}

impl fmt::Display for VmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        for ok in ["n1", "pve-01", "a"] {
            assert!(ok.parse::<NodeName>().is_ok(), "{ok}");
        }
        for bad in ["", "1n", "N1", "n_1", "n1-", "a/b", &"a".repeat(64)] {
            assert!(bad.parse::<NodeName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn vmids() {
        assert!("100".parse::<VmId>().is_ok());
        assert!("99".parse::<VmId>().is_err());
        assert!("abc".parse::<VmId>().is_err());
        assert!("1000000000".parse::<VmId>().is_err());
    }
}
