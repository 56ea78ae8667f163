//! ACL entries and their evaluation along a path, with Proxmox's rules.
//!
//! Walking from `/` down to the checked path, at each level:
//! - an entry applies there if it is on the checked path itself, or if it propagates;
//! - the entries that apply at a level *replace* everything collected from shallower levels
//!   (deeper paths override shallower ones);
//! - a token's own entries are looked at first, then the user's own entries; if the user has
//!   any applying entry at a level, its groups' entries at that level are ignored (user
//!   entries override group entries at the same path); otherwise the roles of all its
//!   groups' applying entries at that level are merged;
//! - at the end, if `NoAccess` is among the collected roles, it is the only role left.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::acl_path::AclPath;
use crate::privileges::PrivSet;
use crate::roles::{Roles, NO_ACCESS};
use crate::userid::{Authid, GroupId, IdError, RoleId, Userid};

/// Who an ACL entry is for: a user, a group (`@name`) or an API token (`user@realm!name`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AclSubject {
    User(Userid),
    Group(GroupId),
    Token(Authid),
}

impl FromStr for AclSubject {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if let Some(group) = s.strip_prefix('@') {
            return Ok(AclSubject::Group(group.parse()?));
        }
        let auth: Authid = s.parse()?;
        Ok(match auth.token {
            Some(_) => AclSubject::Token(auth),
            None => AclSubject::User(auth.user),
        })
    }
}

impl fmt::Display for AclSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclSubject::User(u) => write!(f, "{u}"),
            AclSubject::Group(g) => write!(f, "@{g}"),
            AclSubject::Token(t) => write!(f, "{t}"),
        }
    }
}

/// The roles of one subject on one path, each with its propagate flag.
pub type RoleFlags = BTreeMap<RoleId, bool>;

/// All ACL entries: path, then subject, then role with its propagate flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    entries: BTreeMap<AclPath, BTreeMap<AclSubject, RoleFlags>>,
}

/// One ACL entry, as listed by `acl list`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AclEntry {
    pub path: AclPath,
    pub subject: AclSubject,
    pub role: RoleId,
    pub propagate: bool,
}

impl Acl {
    /// Sets (or replaces the propagate flag of) one entry.
    pub fn set(&mut self, path: AclPath, subject: AclSubject, role: RoleId, propagate: bool) {
        self.entries
            .entry(path)
            .or_default()
            .entry(subject)
            .or_default()
            .insert(role, propagate);
    }

    /// Removes one entry; whether it existed.
    pub fn remove(&mut self, path: &AclPath, subject: &AclSubject, role: &RoleId) -> bool {
        let Some(subjects) = self.entries.get_mut(path) else {
            return false;
        };
        let removed = subjects
            .get_mut(subject)
            .is_some_and(|roles| roles.remove(role).is_some());
        subjects.retain(|_, roles| !roles.is_empty());
        self.entries.retain(|_, s| !s.is_empty());
        removed
    }

    /// Removes every entry of a subject (when a user, group or token is deleted).
    pub fn remove_subject(&mut self, subject: &AclSubject) {
        for subjects in self.entries.values_mut() {
            subjects.remove(subject);
        }
        self.entries.retain(|_, s| !s.is_empty());
    }

    /// Removes every entry on a path (when a guest or storage is destroyed).
    pub fn remove_path(&mut self, path: &AclPath) {
        self.entries.remove(path);
    }

    /// Every entry, sorted by path, subject, role.
    pub fn entries(&self) -> Vec<AclEntry> {
        let mut out = Vec::new();
        for (path, subjects) in &self.entries {
            for (subject, roles) in subjects {
                for (role, propagate) in roles {
                    out.push(AclEntry {
                        path: path.clone(),
                        subject: subject.clone(),
                        role: role.clone(),
                        propagate: *propagate,
                    });
                }
            }
        }
        out
    }

    /// The paths that carry entries.
    pub fn paths(&self) -> impl Iterator<Item = &AclPath> {
        self.entries.keys()
    }

    /// The subjects and roles on one path.
    pub fn on_path(&self, path: &AclPath) -> Option<&BTreeMap<AclSubject, RoleFlags>> {
        self.entries.get(path)
    }

    /// The roles that apply to `who` on `path`, with their propagate flags (see the module doc).
    pub fn roles_for(&self, who: &Evaluated<'_>, path: &AclPath) -> RoleFlags {
        let mut roles = RoleFlags::new();
        let levels = path.ancestry();
        let last = levels.len() - 1;
        for (depth, level) in levels.iter().enumerate() {
            let Some(subjects) = self.entries.get(level) else {
                continue;
            };
            let is_final = depth == last;
            let applying = |flags: &RoleFlags, into: &mut RoleFlags| {
                for (role, propagate) in flags {
                    if is_final || *propagate {
                        into.insert(role.clone(), *propagate);
                    }
                }
            };
            let mut own = RoleFlags::new();
            if let Some(flags) = subjects.get(&who.own_subject()) {
                applying(flags, &mut own);
            }
            if !own.is_empty() {
                roles = own;
                continue;
            }
            let mut from_groups = RoleFlags::new();
            for group in who.groups {
                if let Some(flags) = subjects.get(&AclSubject::Group(group.clone())) {
                    applying(flags, &mut from_groups);
                }
            }
            if !from_groups.is_empty() {
                roles = from_groups;
            }
        }
        cancel_by_no_access(roles)
    }
}

/// If NoAccess is among the roles, only NoAccess remains.
pub fn cancel_by_no_access(roles: RoleFlags) -> RoleFlags {
    let no_access = roles
        .iter()
        .find(|(r, _)| r.as_str() == NO_ACCESS)
        .map(|(r, p)| (r.clone(), *p));
    match no_access {
        Some((role, propagate)) => RoleFlags::from([(role, propagate)]),
        None => roles,
    }
}

/// The identity an ACL is evaluated for: a user with its groups, or a token (which has no groups).
#[derive(Debug, Clone, Copy)]
pub struct Evaluated<'a> {
    pub auth: &'a Authid,
    pub groups: &'a BTreeSet<GroupId>,
}

impl Evaluated<'_> {
    fn own_subject(&self) -> AclSubject {
        match &self.auth.token {
            Some(_) => AclSubject::Token(self.auth.clone()),
            None => AclSubject::User(self.auth.user.clone()),
        }
    }
}

/// Privileges with, for each, whether it is held with propagation (needed to grant propagating roles).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EffectivePrivs {
    /// Every privilege held on the path.
    pub held: PrivSet,
    /// The held privileges that come from at least one propagating role.
    pub propagated: PrivSet,
}

impl EffectivePrivs {
    /// Everything, propagated (root@pam).
    pub fn all() -> EffectivePrivs {
        EffectivePrivs {
            held: PrivSet::all(),
            propagated: PrivSet::all(),
        }
    }

    /// The privileges of the roles (unknown roles give nothing).
    pub fn from_roles(roles: &RoleFlags, defs: &Roles) -> EffectivePrivs {
        let mut out = EffectivePrivs::default();
        for (role, propagate) in roles {
            let privs = defs.privileges(role).unwrap_or_default();
            out.held = out.held.union(privs);
            if *propagate {
                out.propagated = out.propagated.union(privs);
            }
        }
        out
    }

    /// Privileges held by both, propagated only where both propagate (privilege separation).
    pub fn intersect(self, other: EffectivePrivs) -> EffectivePrivs {
        EffectivePrivs {
            held: self.held.intersection(other.held),
            propagated: self.propagated.intersection(other.propagated),
        }
    }
}
