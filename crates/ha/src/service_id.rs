//! HA service ids as ha-manager writes them: `vm:100`, `ct:101`.

use std::fmt;
use std::str::FromStr;

use brigade_core::layout::GuestKind;
use brigade_core::VmId;
use serde::{Deserialize, Serialize};

use crate::HaError;

/// A guest under HA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceId {
    pub kind: GuestKind,
    pub vmid: VmId,
}

impl ServiceId {
    /// The section type of resources.cfg (`vm` or `ct`).
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            GuestKind::Qemu => "vm",
            GuestKind::Lxc => "ct",
        }
    }
}

impl FromStr for ServiceId {
    type Err = HaError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (t, id) = s.split_once(':').ok_or_else(|| {
            HaError::Invalid(format!(
                "invalid service id {s:?}: expected vm:VMID or ct:VMID"
            ))
        })?;
        let kind = match t {
            "vm" => GuestKind::Qemu,
            "ct" => GuestKind::Lxc,
            _ => {
                return Err(HaError::Invalid(format!(
                    "invalid service id {s:?}: type must be vm or ct"
                )))
            }
        };
        let vmid = id
            .parse()
            .map_err(|e| HaError::Invalid(format!("invalid service id {s:?}: {e}")))?;
        Ok(ServiceId { kind, vmid })
    }
}

impl TryFrom<String> for ServiceId {
    type Error = HaError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ServiceId> for String {
    fn from(s: ServiceId) -> String {
        s.to_string()
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.type_name(), self.vmid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ids() {
        let s: ServiceId = "vm:100".parse().expect("ok");
        assert_eq!(s.to_string(), "vm:100");
        assert_eq!(
            "ct:101".parse::<ServiceId>().expect("ok").kind,
            GuestKind::Lxc
        );
        for bad in ["100", "vm:", "vm:99", "xx:100", "vm:abc"] {
            assert!(bad.parse::<ServiceId>().is_err(), "{bad}");
        }
    }
}
