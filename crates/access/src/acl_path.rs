//! ACL paths (`/`, `/vms/100`, `/nodes/n1`, `/storage/local`, `/pool/team`, `/access/...`, `/sdn/...`), validated as Proxmox does.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use brigade_core::VmId;

/// Deepest nesting of pools (`/pool/a/b/c`), as in Proxmox.
pub const POOL_MAX_DEPTH: usize = 3;

/// A path that is not one of the ACL paths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ACL path {0:?}")]
pub struct InvalidPath(pub String);

/// A normalised ACL path: no doubled or trailing slashes, one of the object kinds Proxmox knows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AclPath(String);

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn is_alnum(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_vmid(s: &str) -> bool {
    s.len() >= 3 && !s.starts_with('0') && s.parse::<VmId>().is_ok()
}

fn is_vlan(s: &str) -> bool {
    s.len() <= 4 && !s.starts_with('0') && s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty()
}

/// Whether the segments name an object Proxmox accepts ACLs on (its `check_path`).
fn is_known(segs: &[&str]) -> bool {
    match segs {
        [] => true,
        ["access"] | ["access", "groups" | "realm"] => true,
        ["access", "groups" | "realm", name] => is_name(name),
        ["nodes" | "storage" | "vms" | "pool" | "mapping" | "sdn"] => true,
        ["nodes" | "storage", name] => is_name(name),
        ["vms", id] => is_vmid(id),
        ["pool", pools @ ..] => pools.len() <= POOL_MAX_DEPTH && pools.iter().all(|p| is_name(p)),
        ["mapping", kind] => is_name(kind),
        ["mapping", kind, id] => is_name(kind) && is_name(id),
        ["sdn", "zones" | "controllers" | "dns" | "fabrics" | "ipams" | "prefix-lists" | "route-maps"] => {
            true
        }
        ["sdn", "zones", zone] => is_name(zone),
        ["sdn", "controllers", id] => is_name(id),
        ["sdn", "dns" | "fabrics" | "ipams" | "prefix-lists" | "route-maps", id] => is_alnum(id),
        ["sdn", "zones", zone, vnet] => is_name(zone) && is_name(vnet),
        ["sdn", "zones", zone, vnet, vlan] => is_name(zone) && is_name(vnet) && is_vlan(vlan),
        _ => false,
    }
}

impl AclPath {
    /// The root `/`.
    pub fn root() -> AclPath {
        AclPath("/".into())
    }

    /// `/vms/{vmid}`.
    pub fn vm(vmid: VmId) -> AclPath {
        AclPath(format!("/vms/{vmid}"))
    }

    /// `/pool/{pool}` (a pool id, possibly nested `a/b`), if the id is valid.
    pub fn pool(pool: &str) -> Result<AclPath, InvalidPath> {
        format!("/pool/{pool}").parse()
    }

    /// `/access/groups`.
    pub fn access_groups() -> AclPath {
        AclPath("/access/groups".into())
    }

    /// `/access/groups/{group}` (group ids are always valid path segments).
    pub fn access_group(group: &crate::userid::GroupId) -> AclPath {
        AclPath(format!("/access/groups/{group}"))
    }

    /// `/access/realm/{realm}` (realm names are always valid path segments).
    pub fn access_realm(realm: &crate::userid::Realm) -> AclPath {
        AclPath(format!("/access/realm/{realm}"))
    }

    /// `/storage/{id}`, if the id is valid.
    pub fn storage(id: &str) -> Result<AclPath, InvalidPath> {
        format!("/storage/{id}").parse()
    }

    /// `/nodes/{node}`, if the name is valid.
    pub fn node(node: &str) -> Result<AclPath, InvalidPath> {
        format!("/nodes/{node}").parse()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments below the root (`/vms/100` gives `["vms", "100"]`, `/` none).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// This path and every ancestor, from `/` down to this path.
    pub fn ancestry(&self) -> Vec<AclPath> {
        let mut out = vec![AclPath::root()];
        let mut cur = String::new();
        for seg in self.segments() {
            cur.push('/');
            cur.push_str(seg);
            out.push(AclPath(cur.clone()));
        }
        out
    }

    /// The guest id of a `/vms/{vmid}` path.
    pub fn vmid(&self) -> Option<VmId> {
        let segs: Vec<&str> = self.segments().collect();
        match segs.as_slice() {
            ["vms", id] => id.parse().ok(),
            _ => None,
        }
    }

    /// The storage id of a `/storage/{id}` path.
    pub fn storage_id(&self) -> Option<&str> {
        self.0.strip_prefix("/storage/")
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_within(&self, other: &AclPath) -> bool {
        other.0 == "/" || self.0 == other.0 || self.0.starts_with(&format!("{}/", other.0))
    }
}

impl FromStr for AclPath {
    type Err = InvalidPath;
    /// Normalises like Proxmox (`//vms//100/` is `/vms/100`) and refuses unknown objects.
    fn from_str(s: &str) -> Result<Self, InvalidPath> {
        let bad = || InvalidPath(s.to_string());
        if s.is_empty() {
            return Err(bad());
        }
        let segs: Vec<&str> = s.split('/').filter(|x| !x.is_empty()).collect();
        if !is_known(&segs) {
            return Err(bad());
        }
        Ok(AclPath(format!("/{}", segs.join("/"))))
    }
}

impl TryFrom<String> for AclPath {
    type Error = InvalidPath;
    fn try_from(s: String) -> Result<Self, InvalidPath> {
        s.parse()
    }
}

impl From<AclPath> for String {
    fn from(p: AclPath) -> String {
        p.0
    }
}

impl fmt::Display for AclPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_paths_are_accepted_and_normalised() {
        for (input, norm) in [
            ("/", "/"),
            ("//vms//100/", "/vms/100"),
            ("vms", "/vms"),
            ("/nodes/n1", "/nodes/n1"),
            ("/storage/local-lvm", "/storage/local-lvm"),
            ("/pool/team", "/pool/team"),
            ("/pool/team/dev/a", "/pool/team/dev/a"),
            ("/access/groups/admins", "/access/groups/admins"),
            ("/access/realm/pve", "/access/realm/pve"),
            ("/sdn/zones/z1/vnet1/100", "/sdn/zones/z1/vnet1/100"),
            ("/mapping/pci/gpu0", "/mapping/pci/gpu0"),
        ] {
            assert_eq!(input.parse::<AclPath>().expect(input).as_str(), norm);
        }
    }

    #[test]
    fn unknown_or_malformed_paths_are_refused() {
        for bad in [
            "",
            "/nope",
            "/vms/99",
            "/vms/0100",
            "/vms/abc",
            "/vms/100/x",
            "/pool/a/b/c/d",
            "/nodes/a b",
            "/access/users",
            "/sdn/zones/z/v/0",
            "/storage/a:b",
        ] {
            assert!(bad.parse::<AclPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ancestry_runs_from_root_down() {
        let p: AclPath = "/pool/a/b".parse().expect("valid");
        let names: Vec<String> = p.ancestry().into_iter().map(String::from).collect();
        assert_eq!(names, ["/", "/pool", "/pool/a", "/pool/a/b"]);
        assert!(p.is_within(&AclPath::root()));
        assert!(p.is_within(&"/pool/a".parse().expect("valid")));
        assert!(!"/pool/ab"
            .parse::<AclPath>()
            .expect("valid")
            .is_within(&"/pool/a".parse().expect("valid")));
        assert_eq!(
            AclPath::vm(VmId::try_from(100).expect("id"))
                .vmid()
                .map(u32::from),
            Some(100)
        );
    }

    proptest! {
        #[test]
        fn normalised_paths_parse_to_themselves(s in "[/a-z0-9]{0,30}") {
            if let Ok(p) = s.parse::<AclPath>() {
                prop_assert_eq!(p.as_str().parse::<AclPath>(), Ok(p.clone()));
            }
        }
    }
}
