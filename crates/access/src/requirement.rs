//! What an API endpoint requires, declared beside its route and checked before any work.
//!
//! Modelled on Proxmox's `permissions => { check => [...] }`: a route table lists one
//! [`Requirement`] per endpoint, with `{param}` placeholders in paths filled from the request;
//! [`Requirement::describe`] gives the text for the endpoint's OpenAPI description.
//!
//! ```text
//! const STOP: Requirement = Requirement::perm("/vms/{vmid}", &[Privilege::VmPowerMgmt]);
//! ```

use crate::acl_path::AclPath;
use crate::grant::acl_modify_privileges;
use crate::permissions::{Denied, Permissions};
use crate::privileges::Privilege;
use crate::userid::Authid;

/// One endpoint's requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone, even unauthenticated (the login itself).
    World,
    /// Any authenticated caller; the handler filters what it returns.
    Authenticated,
    /// root@pam itself (not one of its tokens): raw tree access, cluster membership.
    Root,
    /// Privileges on a path: all of them, or any one if `any`.
    Perm {
        path: &'static str,
        privs: &'static [Privilege],
        any: bool,
    },
    /// Changing ACL entries on the path (Proxmox's `perm-modify`); the roles are checked by
    /// `grant::check_acl_change` in the handler.
    PermModify { path: &'static str },
    /// The caller is the user named by the `userid` parameter (not a token of it).
    SelfUser,
    /// Every one of these.
    And(&'static [Requirement]),
    /// At least one of these.
    Or(&'static [Requirement]),
}

/// A requirement that is not met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmet {
    #[error("authentication required")]
    Unauthenticated,
    #[error("only root@pam may do this")]
    RootOnly,
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("permission check failed")]
    NotSelf,
    #[error("missing parameter {0:?} for the permission check")]
    MissingParam(String),
    #[error("invalid path {0:?} for the permission check")]
    BadPath(String),
}

impl Requirement {
    /// All of `privs` on `path`.
    pub const fn perm(path: &'static str, privs: &'static [Privilege]) -> Requirement {
        Requirement::Perm {
            path,
            privs,
            any: false,
        }
    }

    /// Any one of `privs` on `path`.
    pub const fn perm_any(path: &'static str, privs: &'static [Privilege]) -> Requirement {
        Requirement::Perm {
            path,
            privs,
            any: true,
        }
    }

    /// Checks the requirement for `auth` (None when unauthenticated); `param` gives request parameters.
    pub fn check(
        &self,
        perms: &Permissions<'_>,
        auth: Option<&Authid>,
        param: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), Unmet> {
        if matches!(self, Requirement::World) {
            return Ok(());
        }
        let auth = auth.ok_or(Unmet::Unauthenticated)?;
        match self {
            Requirement::World | Requirement::Authenticated => Ok(()),
            Requirement::Root => {
                if auth.user.is_root() && !auth.is_token() {
                    Ok(())
                } else {
                    Err(Unmet::RootOnly)
                }
            }
            Requirement::Perm { path, privs, any } => {
                let path = fill(path, param)?;
                if *any {
                    Ok(perms.check_any(auth, &path, privs)?)
                } else {
                    Ok(perms.check_all(auth, &path, privs)?)
                }
            }
            Requirement::PermModify { path } => {
                let path = fill(path, param)?;
                Ok(perms.check_any(auth, &path, &acl_modify_privileges(&path))?)
            }
            Requirement::SelfUser => {
                let target = param("userid").ok_or_else(|| Unmet::MissingParam("userid".into()))?;
                if !auth.is_token() && auth.user.as_str() == target {
                    Ok(())
                } else {
                    Err(Unmet::NotSelf)
                }
            }
            Requirement::And(all) => all
                .iter()
                .try_for_each(|r| r.check(perms, Some(auth), param)),
            Requirement::Or(any) => {
                let mut last = Unmet::NotSelf;
                for r in *any {
                    match r.check(perms, Some(auth), param) {
                        Ok(()) => return Ok(()),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// The requirement in words, for the endpoint's OpenAPI description.
    pub fn describe(&self) -> String {
        let names = |privs: &[Privilege], sep: &str| {
            privs
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(sep)
        };
        match self {
            Requirement::World => "No authentication needed.".into(),
            Requirement::Authenticated => "Any authenticated user; the result lists only what the caller may see.".into(),
            Requirement::Root => "Only root@pam.".into(),
            Requirement::Perm { path, privs, any: false } => format!("Requires {} on {path}.", names(privs, ", ")),
            Requirement::Perm { path, privs, any: true } => format!("Requires one of {} on {path}.", names(privs, ", ")),
            Requirement::PermModify { path } => format!(
                "Requires Permissions.Modify (or the object's Allocate privilege) on {path}, and every privilege of the roles given."
            ),
            Requirement::SelfUser => "The user itself.".into(),
            Requirement::And(all) => all.iter().map(Requirement::describe).collect::<Vec<_>>().join(" And: "),
            Requirement::Or(any) => {
                let parts: Vec<String> = any.iter().map(Requirement::describe).collect();
                format!("Either: {}", parts.join(" Or: "))
            }
        }
    }
}

/// Fills `{name}` placeholders from the request and parses the ACL path.
fn fill(template: &str, param: &dyn Fn(&str) -> Option<String>) -> Result<AclPath, Unmet> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| Unmet::BadPath(template.to_string()))?
            + start;
        let name = &rest[start + 1..end];
        let value = param(name).ok_or_else(|| Unmet::MissingParam(name.to_string()))?;
        if value.contains('/') && name != "pool" {
            return Err(Unmet::BadPath(value));
        }
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out.parse().map_err(|_| Unmet::BadPath(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::AclSubject;
    use crate::user_cfg::{User, UserCfg};
    use crate::userid::Userid;
    use Privilege as P;

    const NOW: u64 = 1_800_000_000;
    const STOP: Requirement = Requirement::perm("/vms/{vmid}", &[P::VmPowerMgmt]);
    const READ_USER: Requirement = Requirement::Or(&[
        Requirement::SelfUser,
        Requirement::perm_any("/access/groups", &[P::UserModify, P::SysAudit]),
    ]);

    fn cfg() -> UserCfg {
        let mut cfg = UserCfg::new();
        for u in ["auditor@pve", "vmuser@pve"] {
            cfg.users
                .insert(u.parse::<Userid>().expect("id"), User::default());
        }
        let set = |cfg: &mut UserCfg, p: &str, who: &str, r: &str| {
            cfg.acl.set(
                p.parse().expect("path"),
                who.parse::<AclSubject>().expect("s"),
                r.parse().expect("role"),
                true,
            );
        };
        set(&mut cfg, "/", "auditor@pve", "PVEAuditor");
        set(&mut cfg, "/vms/100", "vmuser@pve", "PVEVMUser");
        cfg
    }

    fn params(vmid: &str) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| match name {
            "vmid" => Some(vmid.to_string()),
            "userid" => Some("vmuser@pve".to_string()),
            _ => None,
        }
    }

    fn auth(s: &str) -> Authid {
        s.parse().expect("id")
    }

    #[test]
    fn an_auditor_pressing_stop_is_refused() {
        let cfg = cfg();
        let perms = Permissions::new(&cfg, NOW);
        let p = params("100");
        assert!(matches!(
            STOP.check(&perms, Some(&auth("auditor@pve")), &p),
            Err(Unmet::Denied(_))
        ));
        assert_eq!(STOP.check(&perms, Some(&auth("vmuser@pve")), &p), Ok(()));
        assert!(STOP
            .check(&perms, Some(&auth("vmuser@pve")), &params("101"))
            .is_err());
        assert_eq!(STOP.check(&perms, None, &p), Err(Unmet::Unauthenticated));
        assert_eq!(STOP.describe(), "Requires VM.PowerMgmt on /vms/{vmid}.");
    }

    #[test]
    fn placeholders_are_filled_and_checked() {
        let cfg = cfg();
        let perms = Permissions::new(&cfg, NOW);
        let root = auth("root@pam");
        assert_eq!(
            STOP.check(&perms, Some(&root), &params("../x")),
            Err(Unmet::BadPath("../x".into()))
        );
        assert_eq!(
            STOP.check(&perms, Some(&root), &params("99")),
            Err(Unmet::BadPath("/vms/99".into()))
        );
        assert_eq!(
            STOP.check(&perms, Some(&root), &|_| None),
            Err(Unmet::MissingParam("vmid".into()))
        );
    }

    #[test]
    fn or_and_root_and_self() {
        let cfg = cfg();
        let perms = Permissions::new(&cfg, NOW);
        let p = params("100");
        assert_eq!(
            READ_USER.check(&perms, Some(&auth("vmuser@pve")), &p),
            Ok(()),
            "itself"
        );
        assert_eq!(
            READ_USER.check(&perms, Some(&auth("auditor@pve")), &p),
            Ok(()),
            "Sys.Audit"
        );
        assert_eq!(
            Requirement::Root.check(&perms, Some(&auth("auditor@pve")), &p),
            Err(Unmet::RootOnly)
        );
        assert_eq!(
            Requirement::Root.check(&perms, Some(&auth("root@pam")), &p),
            Ok(())
        );
        let both = Requirement::And(&[Requirement::Authenticated, STOP]);
        assert!(both.check(&perms, Some(&auth("auditor@pve")), &p).is_err());
        assert_eq!(Requirement::World.check(&perms, None, &p), Ok(()));
        assert!(READ_USER
            .describe()
            .starts_with("Either: The user itself. Or: Requires one of User.Modify, Sys.Audit"));
    }
}
