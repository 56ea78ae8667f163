//! Proxmox VE's privilege names and a compact set of them.

use std::fmt;
use std::str::FromStr;

macro_rules! privileges {
    ($($variant:ident = $text:literal,)*) => {
        /// One privilege, named as in Proxmox VE.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Privilege {
            $($variant,)*
        }

        impl Privilege {
            /// Every privilege, in declaration order.
            pub const ALL: &'static [Privilege] = &[$(Privilege::$variant,)*];

            /// The name Proxmox uses, e.g. `VM.Config.Disk`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Privilege::$variant => $text,)*
                }
            }
        }
    };
}

privileges! {
    SysAudit = "Sys.Audit",
    SysModify = "Sys.Modify",
    SysConsole = "Sys.Console",
    SysPowerMgmt = "Sys.PowerMgmt",
    SysSyslog = "Sys.Syslog",
    SysIncoming = "Sys.Incoming",
    SysAccessNetwork = "Sys.AccessNetwork",
    VmAllocate = "VM.Allocate",
    VmAudit = "VM.Audit",
    VmClone = "VM.Clone",
    VmConfigCdrom = "VM.Config.CDROM",
    VmConfigCpu = "VM.Config.CPU",
    VmConfigCloudinit = "VM.Config.Cloudinit",
    VmConfigDisk = "VM.Config.Disk",
    VmConfigHwType = "VM.Config.HWType",
    VmConfigMemory = "VM.Config.Memory",
    VmConfigNetwork = "VM.Config.Network",
    VmConfigOptions = "VM.Config.Options",
    VmConsole = "VM.Console",
    VmMigrate = "VM.Migrate",
    VmPowerMgmt = "VM.PowerMgmt",
    VmSnapshot = "VM.Snapshot",
    VmSnapshotRollback = "VM.Snapshot.Rollback",
    VmBackup = "VM.Backup",
    VmReplicate = "VM.Replicate",
    VmGuestAgentAudit = "VM.GuestAgent.Audit",
    VmGuestAgentFileRead = "VM.GuestAgent.FileRead",
    VmGuestAgentFileWrite = "VM.GuestAgent.FileWrite",
    VmGuestAgentFileSystemMgmt = "VM.GuestAgent.FileSystemMgmt",
    VmGuestAgentUnrestricted = "VM.GuestAgent.Unrestricted",
    DatastoreAllocate = "Datastore.Allocate",
    DatastoreAllocateSpace = "Datastore.AllocateSpace",
    DatastoreAllocateTemplate = "Datastore.AllocateTemplate",
    DatastoreAudit = "Datastore.Audit",
    PermissionsModify = "Permissions.Modify",
    UserModify = "User.Modify",
    GroupAllocate = "Group.Allocate",
    RealmAllocate = "Realm.Allocate",
    RealmAllocateUser = "Realm.AllocateUser",
    PoolAllocate = "Pool.Allocate",
    PoolAudit = "Pool.Audit",
    SdnUse = "SDN.Use",
    SdnAllocate = "SDN.Allocate",
    SdnAudit = "SDN.Audit",
    MappingUse = "Mapping.Use",
    MappingModify = "Mapping.Modify",
    MappingAudit = "Mapping.Audit",
}

/// A name that is not one of Proxmox's privileges.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown privilege {0:?}")]
pub struct UnknownPrivilege(pub String);

impl FromStr for Privilege {
    type Err = UnknownPrivilege;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Privilege::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPrivilege(s.to_string()))
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Privilege {
    fn bit(self) -> u64 {
        1u64 << (self as u32)
    }
}

/// A set of privileges (a bit set: cheap to copy, intersect and compare).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct PrivSet(u64);

impl PrivSet {
    pub const EMPTY: PrivSet = PrivSet(0);

    /// Every privilege (what root@pam and Administrator hold).
    pub fn all() -> PrivSet {
        Privilege::ALL.iter().copied().collect()
    }

    pub fn of(privs: &[Privilege]) -> PrivSet {
        privs.iter().copied().collect()
    }

    pub fn contains(self, p: Privilege) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn insert(&mut self, p: Privilege) {
        self.0 |= p.bit();
    }

    pub fn union(self, other: PrivSet) -> PrivSet {
        PrivSet(self.0 | other.0)
    }

    pub fn intersection(self, other: PrivSet) -> PrivSet {
        PrivSet(self.0 & other.0)
    }

    /// The privileges of `self` not in `other`.
    pub fn difference(self, other: PrivSet) -> PrivSet {
        PrivSet(self.0 & !other.0)
    }

    pub fn is_subset(self, other: PrivSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn iter(self) -> impl Iterator<Item = Privilege> {
        Privilege::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// Parses Proxmox's comma-separated list (`VM.Audit,VM.Console`); empty gives the empty set.
    pub fn parse_list(text: &str) -> Result<PrivSet, UnknownPrivilege> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse::<Privilege>)
            .collect()
    }
}

impl FromIterator<Privilege> for PrivSet {
    fn from_iter<I: IntoIterator<Item = Privilege>>(iter: I) -> Self {
        let mut set = PrivSet::EMPTY;
        for p in iter {
            set.insert(p);
        }
        set
    }
}

/// The comma-separated names, sorted as Proxmox writes them.
impl fmt::Display for PrivSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.iter().map(Privilege::as_str).collect();
        names.sort_unstable();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for PrivSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivSet({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_name_round_trips_and_fits_the_bit_set() {
        assert!(Privilege::ALL.len() <= 64);
        for p in Privilege::ALL {
            assert_eq!(p.as_str().parse::<Privilege>(), Ok(*p));
        }
        assert_eq!(PrivSet::all().len(), Privilege::ALL.len());
    }

    #[test]
    fn lists_parse_and_print_sorted() {
        let s = PrivSet::parse_list("VM.Console, VM.Audit,").expect("valid");
        assert_eq!(s.to_string(), "VM.Audit,VM.Console");
        assert_eq!(PrivSet::parse_list(""), Ok(PrivSet::EMPTY));
        assert_eq!(
            PrivSet::parse_list("VM.Audit,VM.Fly"),
            Err(UnknownPrivilege("VM.Fly".into()))
        );
    }

    fn arb_set() -> impl Strategy<Value = PrivSet> {
        proptest::bits::u64::masked((1u64 << Privilege::ALL.len()) - 1).prop_map(PrivSet)
    }

    proptest! {
        #[test]
        fn set_algebra(a in arb_set(), b in arb_set()) {
            prop_assert!(a.intersection(b).is_subset(a));
            prop_assert!(a.is_subset(a.union(b)));
            prop_assert!(a.difference(b).intersection(b).is_empty());
            prop_assert_eq!(PrivSet::parse_list(&a.to_string()), Ok(a));
        }
    }
}
