//! `domains.cfg`: the realms, in Proxmox's section-config format.
//!
//! ```text
//! pam: pam
//!     comment Linux PAM standard authentication
//!
//! pve: pve
//!     comment Brigade authentication server
//!     default 1
//! ```
//! Brigade has the two realms Proxmox always has: `pam` (the node's Linux accounts) and `pve`
//! (its own users, argon2 hashes in priv/shadow.cfg). Both always exist; other realm types
//! (LDAP, AD, OpenID) are refused rather than silently ignored.

use std::collections::BTreeMap;

use brigade_core::section_config::{self, Section};

use crate::userid::{Realm, REALM_PAM, REALM_PVE};

/// The kinds of realm brigade can authenticate against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealmType {
    /// The node's Linux accounts through PAM.
    Pam,
    /// Brigade's own users, passwords in priv/shadow.cfg.
    Pve,
}

impl RealmType {
    pub fn as_str(self) -> &'static str {
        match self {
            RealmType::Pam => REALM_PAM,
            RealmType::Pve => REALM_PVE,
        }
    }
}

/// One realm's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmConfig {
    pub kind: RealmType,
    pub comment: String,
    /// The realm the login form preselects.
    pub default: bool,
    /// Second factor required for every user of the realm (e.g. `type=oath`), if any.
    pub tfa: Option<String>,
}

/// A domains.cfg that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainsError {
    #[error("domains.cfg: {0}")]
    Format(#[from] brigade_core::FormatError),
    #[error("domains.cfg realm {realm}: {reason}")]
    Realm { realm: String, reason: String },
}

/// All realms by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainsCfg {
    pub realms: BTreeMap<Realm, RealmConfig>,
}

fn builtin(kind: RealmType, comment: &str) -> (Realm, RealmConfig) {
    let name = match kind {
        RealmType::Pam => Realm::pam(),
        RealmType::Pve => Realm::pve(),
    };
    (
        name,
        RealmConfig {
            kind,
            comment: comment.to_string(),
            default: false,
            tfa: None,
        },
    )
}

impl Default for DomainsCfg {
    fn default() -> Self {
        DomainsCfg {
            realms: BTreeMap::from([
                builtin(RealmType::Pam, "Linux PAM standard authentication"),
                builtin(RealmType::Pve, "Brigade authentication server"),
            ]),
        }
    }
}

impl DomainsCfg {
    /// Parses domains.cfg; missing built-in realms are added.
    pub fn parse(text: &str) -> Result<DomainsCfg, DomainsError> {
        let mut cfg = DomainsCfg::default();
        let mut defaults = 0;
        for s in section_config::parse(text)? {
            let bad = |reason: String| DomainsError::Realm {
                realm: s.id.clone(),
                reason,
            };
            let kind = match s.kind.as_str() {
                "pam" => RealmType::Pam,
                "pve" => RealmType::Pve,
                other => {
                    return Err(bad(format!(
                        "realm type {other:?} is not supported (pam, pve)"
                    )))
                }
            };
            if s.id != kind.as_str() {
                return Err(bad(format!(
                    "a {} realm must be named {}",
                    kind.as_str(),
                    kind.as_str()
                )));
            }
            let mut realm = RealmConfig {
                kind,
                comment: String::new(),
                default: false,
                tfa: None,
            };
            for (key, value) in &s.props {
                match key.as_str() {
                    "comment" => realm.comment.clone_from(value),
                    "default" => {
                        realm.default = match value.as_str() {
                            "0" => false,
                            "1" | "" => true,
                            v => return Err(bad(format!("default must be 0 or 1, not {v:?}"))),
                        }
                    }
                    "tfa" => realm.tfa = Some(value.clone()),
                    other => return Err(bad(format!("unknown property {other:?}"))),
                }
            }
            defaults += usize::from(realm.default);
            let name: Realm =
                s.id.parse()
                    .map_err(|e: crate::userid::IdError| bad(e.to_string()))?;
            cfg.realms.insert(name, realm);
        }
        if defaults > 1 {
            return Err(DomainsError::Realm {
                realm: "*".into(),
                reason: "only one realm can be the default".into(),
            });
        }
        Ok(cfg)
    }

    pub fn write(&self) -> String {
        let sections: Vec<Section> = self
            .realms
            .iter()
            .map(|(name, r)| {
                let mut s = Section::new(r.kind.as_str(), name.as_str());
                if !r.comment.is_empty() {
                    s = s.with("comment", &r.comment);
                }
                if r.default {
                    s = s.with("default", 1);
                }
                if let Some(tfa) = &r.tfa {
                    s = s.with("tfa", tfa);
                }
                s
            })
            .collect();
        section_config::write(&sections)
    }

    /// The realm's settings, if it exists.
    pub fn get(&self, realm: &str) -> Option<&RealmConfig> {
        self.realms
            .iter()
            .find(|(n, _)| n.as_str() == realm)
            .map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxmox_domains_cfg_parses_and_round_trips() {
        let text = "pam: pam\n\tcomment Linux PAM standard authentication\n\npve: pve\n\tcomment Proxmox VE authentication server\n\tdefault 1\n\ttfa type=oath\n";
        let cfg = DomainsCfg::parse(text).expect("parses");
        let pve = cfg.get("pve").expect("pve");
        assert!(pve.default && pve.kind == RealmType::Pve);
        assert_eq!(pve.tfa.as_deref(), Some("type=oath"));
        assert_eq!(cfg.write(), text);
        assert_eq!(DomainsCfg::parse(&cfg.write()), Ok(cfg));
    }

    #[test]
    fn built_in_realms_always_exist() {
        let cfg = DomainsCfg::parse("").expect("empty");
        assert_eq!(cfg.get("pam").map(|r| r.kind), Some(RealmType::Pam));
        assert_eq!(cfg.get("pve").map(|r| r.kind), Some(RealmType::Pve));
        assert!(cfg.get("ldap").is_none());
    }

    #[test]
    fn unsupported_or_bad_realms_are_refused() {
        for text in [
            "ldap: corp\n\tserver1 ldap.example.com\n",
            "pve: mine\n",
            "pve: pve\n\tdefault yes\n",
            "pve: pve\n\tcolour blue\n",
            "pam: pam\n\tdefault 1\n\npve: pve\n\tdefault 1\n",
            "pve pve\n",
        ] {
            assert!(DomainsCfg::parse(text).is_err(), "{text:?}");
        }
    }
}
