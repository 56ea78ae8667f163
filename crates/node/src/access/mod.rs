//! The access state this node decides with (user.cfg, domains.cfg, token.cfg, keys), cached per file version.
//!
//! Every request reads the files' versions from the local replica and re-parses only what
//! changed. A user.cfg that does not parse opens nothing: the node then works with a
//! configuration that holds root@pam alone (fail closed) and logs why.

pub mod forward;
pub mod guest_rules;
pub mod keys;
pub mod login;
mod pam_auth;

use std::sync::{Arc, Mutex};

use brigade_access::csrf::CsrfSecret;
use brigade_access::domains_cfg::DomainsCfg;
use brigade_access::files;
use brigade_access::forwarded::SealKey;
use brigade_access::login::{authenticate_ticket, RequestAuthError};
use brigade_access::rate_limit::LoginLimiter;
use brigade_access::ticket_keys::TicketKeys;
use brigade_access::token::check_usable;
use brigade_access::{parse_user_cfg, Authid, UserCfg, Userid};
use brigade_cfs::Cfs;
use brigade_core::layout;

use crate::error::NodeError;
use crate::node::{cfs_path, Node};
use crate::token::ApiToken;

/// The versions of the files one [`AccessState`] was built from (0: the file is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Versions {
    users: u64,
    domains: u64,
    keys: u64,
    csrf: u64,
    authkey: u64,
}

/// One consistent, parsed view of the access files.
pub struct AccessState {
    versions: Versions,
    /// The parsed user.cfg, or root@pam alone when it is missing or invalid.
    pub users: UserCfg,
    /// Why user.cfg was not used, when it was invalid.
    pub users_error: Option<String>,
    pub domains: DomainsCfg,
    /// None until the first login creates them.
    pub keys: Option<TicketKeys>,
    pub csrf: Option<CsrfSecret>,
    /// None before the node is in a cluster.
    pub seal: Option<SealKey>,
}

impl std::fmt::Debug for AccessState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessState")
            .field("versions", &self.versions)
            .field("users_error", &self.users_error)
            .finish_non_exhaustive()
    }
}

/// The node's cache of [`AccessState`] and its login limiter.
#[derive(Default)]
pub struct AccessCache {
    state: Mutex<Option<Arc<AccessState>>>,
    pub(crate) limiter: Arc<Mutex<LoginLimiter>>,
}

impl std::fmt::Debug for AccessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessCache(..)")
    }
}

/// A file's data and version from the local replica; a missing file is empty, version 0.
pub(crate) fn read_file(cfs: &Cfs, path: &str) -> (Vec<u8>, u64) {
    match cfs_path(path).ok().and_then(|p| cfs.read(&p).ok()) {
        Some(f) if !f.dir => (f.data, f.version),
        _ => (Vec::new(), 0),
    }
}

fn build(cfs: Option<&Cfs>) -> AccessState {
    let read = |path: &str| cfs.map(|c| read_file(c, path)).unwrap_or_default();
    let (users_raw, users_v) = read(files::USER_CFG);
    let (domains_raw, domains_v) = read(files::DOMAINS_CFG);
    let (keys_raw, keys_v) = read(files::TICKET_KEYS);
    let (csrf_raw, csrf_v) = read(files::CSRF_KEY);
    let (authkey_raw, authkey_v) = read(layout::AUTHKEY);
    let (users, users_error) = if users_v == 0 {
        (UserCfg::new(), None)
    } else {
        match parse_user_cfg(&String::from_utf8_lossy(&users_raw)) {
            Ok(cfg) => (cfg, None),
            Err(e) => {
                let why = format!(
                    "user.cfg (version {users_v}) is invalid, so only root@pam may act until it is fixed: {e}"
                );
                tracing::error!("{why}");
                (UserCfg::new(), Some(why))
            }
        }
    };
    let domains = match DomainsCfg::parse(&String::from_utf8_lossy(&domains_raw)) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(
                "domains.cfg is invalid, only the built-in realms pam and pve are used: {e}"
            );
            DomainsCfg::default()
        }
    };
    let keys = (keys_v != 0)
        .then(|| TicketKeys::parse(&String::from_utf8_lossy(&keys_raw)))
        .and_then(|r| {
            r.map_err(|e| {
                tracing::error!("priv/ticket-keys is invalid, no ticket is accepted: {e}");
            })
            .ok()
        });
    let csrf = (csrf_v != 0)
        .then(|| CsrfSecret::new(&csrf_raw))
        .and_then(|r| {
            r.map_err(|e| tracing::error!("priv/csrf.key is invalid: {e}"))
                .ok()
        });
    let seal = (authkey_v != 0).then(|| SealKey::from_cluster_key(&authkey_raw));
    AccessState {
        versions: Versions {
            users: users_v,
            domains: domains_v,
            keys: keys_v,
            csrf: csrf_v,
            authkey: authkey_v,
        },
        users,
        users_error,
        domains,
        keys,
        csrf,
        seal,
    }
}

fn versions(cfs: Option<&Cfs>) -> Versions {
    let v = |path: &str| cfs.map(|c| read_file(c, path).1).unwrap_or(0);
    Versions {
        users: v(files::USER_CFG),
        domains: v(files::DOMAINS_CFG),
        keys: v(files::TICKET_KEYS),
        csrf: v(files::CSRF_KEY),
        authkey: v(layout::AUTHKEY),
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    brigade_core::unix_now_secs()
}

/// The caller as the permission checks see it: a root@pam token that user.cfg does not
/// list (the cluster's root token, made at `cluster create`, which lives only in
/// priv/token.cfg) is root@pam itself; every other caller is itself.
pub fn effective_caller(cfg: &UserCfg, auth: &Authid) -> Authid {
    if auth.user.is_root() && auth.is_token() && !cfg.tokens.contains_key(auth) {
        return node_itself();
    }
    auth.clone()
}

/// The identity the node's own calls carry (root@pam).
pub fn node_itself() -> Authid {
    Authid::user(Userid::root())
}

impl Node {
    /// The current access state (re-parsed when a file changed).
    pub fn access_state(&self) -> Arc<AccessState> {
        let cfs = self.cluster().map(|rt| rt.cfs.as_ref());
        let want = versions(cfs);
        let mut slot = self.access.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(st) = slot.as_ref().filter(|s| s.versions == want) {
            return st.clone();
        }
        let st = Arc::new(build(cfs));
        *slot = Some(st.clone());
        st
    }

    /// The caller an API token stands for: root@pam for the node's local token and for
    /// root@pam's tokens of token.cfg that user.cfg does not list (the cluster's root token);
    /// the token itself otherwise, if it and its user are usable now.
    pub fn token_caller(
        &self,
        st: &AccessState,
        presented: &ApiToken,
    ) -> Result<Authid, NodeError> {
        if !self.authenticate(presented) {
            return Err(NodeError::Unauthorized(format!(
                "invalid API token {}",
                presented.id
            )));
        }
        if presented.id == self.local_token.id {
            return Ok(node_itself());
        }
        let auth: Authid = presented.id.parse().map_err(|e| {
            NodeError::Unauthorized(format!("malformed API token id {}: {e}", presented.id))
        })?;
        self.usable(st, effective_caller(&st.users, &auth))
    }

    /// The caller of a request with the ticket cookie (and, for non-GET, the CSRF header).
    pub fn ticket_caller(
        &self,
        st: &AccessState,
        ticket: &str,
        csrf_header: Option<&str>,
        method: &str,
    ) -> Result<Authid, NodeError> {
        let (Some(keys), Some(csrf)) = (&st.keys, &st.csrf) else {
            return Err(NodeError::Unauthorized(
                "invalid ticket: this cluster has issued no ticket yet".into(),
            ));
        };
        let auth = authenticate_ticket(keys, csrf, &st.users, ticket, csrf_header, method, now())
            .map_err(|e| match e {
                RequestAuthError::Ticket(t) => NodeError::Unauthorized(format!("invalid ticket: {t}")),
                RequestAuthError::Csrf(c) => NodeError::Unauthorized(format!(
                    "{c}: a request authenticated by ticket that changes something needs the {} header (from the login answer)",
                    brigade_access::csrf::CSRF_HEADER
                )),
                RequestAuthError::Unusable(u) => self.unusable(st, u),
            })?;
        self.usable(st, auth)
    }

    fn usable(&self, st: &AccessState, auth: Authid) -> Result<Authid, NodeError> {
        if auth.user.is_root() && !auth.is_token() {
            return Ok(auth);
        }
        check_usable(&st.users, &auth, now()).map_err(|u| self.unusable(st, u))?;
        Ok(auth)
    }

    fn unusable(&self, st: &AccessState, u: brigade_access::token::Unusable) -> NodeError {
        match &st.users_error {
            Some(why) => NodeError::Unauthorized(why.clone()),
            None => NodeError::Unauthorized(u.to_string()),
        }
    }
}
