//! Where the access files live in the cluster tree (mirroring Proxmox's /etc/pve).

/// Users, tokens, groups, pools, custom roles, ACLs (readable by the daemon; served filtered).
pub const USER_CFG: &str = "user.cfg";
/// Realms.
pub const DOMAINS_CFG: &str = "domains.cfg";
/// Password hashes of the `pve` realm.
pub const SHADOW_CFG: &str = "priv/shadow.cfg";
/// Second factors (TOTP secrets, hashed recovery codes), JSON.
pub const TFA_CFG: &str = "priv/tfa.cfg";
/// Ticket signing keys, current and previous (rotated daily by the leader).
pub const TICKET_KEYS: &str = "priv/ticket-keys";
/// CSRF prevention secret (made once at cluster creation, not rotated).
pub const CSRF_KEY: &str = "priv/csrf.key";

/// Whether a tree path is one only root@pam may read or write (everything under `priv/`).
pub fn is_private(path: &str) -> bool {
    let p = path.trim_start_matches('/');
    p == "priv" || p.starts_with("priv/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_private_and_configs_are_not() {
        for p in [
            SHADOW_CFG,
            TFA_CFG,
            TICKET_KEYS,
            CSRF_KEY,
            "/priv",
            "priv/token.cfg",
        ] {
            assert!(is_private(p), "{p}");
        }
        for p in [USER_CFG, DOMAINS_CFG, "private.cfg", "nodes/n1/priv"] {
            assert!(!is_private(p), "{p}");
        }
    }
}
