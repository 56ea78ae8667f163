//! The login decision (`POST /access/ticket`) and the ticket check of every request, pure.
//!
//! The daemon reads the files, draws nothing random here, and passes the PAM check in as a
//! closure (PAM is I/O). Every refusal is typed for the log, but what the caller is told does
//! not reveal whether the user, the realm or the password was wrong ([`LoginError::public`]).

use std::net::IpAddr;

use crate::csrf::{method_needs_csrf, CsrfError, CsrfSecret};
use crate::domains_cfg::{DomainsCfg, RealmType};
use crate::rate_limit::{Limited, LoginLimiter};
use crate::shadow::ShadowCfg;
use crate::tfa::{SecondFactor, TfaCfg, TfaError};
use crate::ticket::{self, TicketError};
use crate::ticket_keys::TicketKeys;
use crate::token::{check_usable, Unusable};
use crate::user_cfg::UserCfg;
use crate::userid::{Authid, Userid};

/// The files a login reads; `tfa` is written back by the caller when a code was spent.
#[derive(Debug)]
pub struct LoginFiles<'a> {
    pub users: &'a UserCfg,
    pub domains: &'a DomainsCfg,
    pub shadow: &'a ShadowCfg,
    pub tfa: &'a mut TfaCfg,
    pub keys: &'a TicketKeys,
    pub csrf: &'a CsrfSecret,
}

/// What the client sent.
#[derive(Debug, Clone, Copy)]
pub struct LoginRequest<'a> {
    /// `name@realm`, or `name` with `realm` given apart (as Proxmox's form does).
    pub username: &'a str,
    pub realm: Option<&'a str>,
    /// The password, or a still-valid ticket of the same user to renew it.
    pub password: &'a str,
    pub second_factor: Option<SecondFactor<'a>>,
    pub source: IpAddr,
    pub now: u64,
}

/// A successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOk {
    pub user: Userid,
    pub ticket: String,
    pub csrf_token: String,
    /// Whether tfa.cfg changed (a TOTP step or a recovery code was used) and must be written.
    pub tfa_changed: bool,
}

/// Why a login is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    RateLimited(#[from] Limited),
    #[error("invalid user name {0:?}")]
    BadUsername(String),
    #[error("unknown realm {0:?}")]
    UnknownRealm(String),
    #[error("wrong password for {0}")]
    WrongPassword(Userid),
    #[error(transparent)]
    Unusable(#[from] Unusable),
    #[error("second factor required for {0}")]
    SecondFactorRequired(Userid),
    #[error("second factor of {user} refused: {error}")]
    SecondFactor { user: Userid, error: TfaError },
}

impl LoginError {
    /// What the client is told: nothing that tells apart unknown users, realms and passwords.
    pub fn public(&self) -> String {
        match self {
            LoginError::RateLimited(l) => l.to_string(),
            LoginError::SecondFactorRequired(_) => "second factor required".into(),
            _ => "authentication failure".into(),
        }
    }
}

/// Decides a login. `pam` checks a Linux account's password (name without `@pam`).
pub fn login(
    files: LoginFiles<'_>,
    limiter: &mut LoginLimiter,
    req: LoginRequest<'_>,
    pam: impl FnOnce(&str, &str) -> bool,
) -> Result<LoginOk, LoginError> {
    let full = match req.realm {
        Some(realm) if !req.username.contains('@') => format!("{}@{realm}", req.username),
        _ => req.username.to_string(),
    };
    limiter.check(&full, req.source, req.now)?;
    let result = decide(files, &full, req, pam);
    match &result {
        Ok(ok) => limiter.record_success(ok.user.as_str()),
        Err(LoginError::SecondFactorRequired(_)) => {}
        Err(_) => limiter.record_failure(&full, req.source, req.now),
    }
    result
}

fn decide(
    files: LoginFiles<'_>,
    full: &str,
    req: LoginRequest<'_>,
    pam: impl FnOnce(&str, &str) -> bool,
) -> Result<LoginOk, LoginError> {
    let user: Userid = full
        .parse()
        .map_err(|_| LoginError::BadUsername(full.to_string()))?;
    let realm = files
        .domains
        .get(user.realm())
        .ok_or_else(|| LoginError::UnknownRealm(user.realm().to_string()))?;
    check_usable(files.users, &Authid::user(user.clone()), req.now)?;
    let issue = |tfa_changed| LoginOk {
        user: user.clone(),
        ticket: ticket::issue(files.keys, &user, req.now),
        csrf_token: files.csrf.token(&user, req.now),
        tfa_changed,
    };
    // Renewal: a valid ticket of the same user stands for password and second factor.
    if req.password.starts_with(ticket::TICKET_PREFIX) {
        return match ticket::verify(files.keys, req.password, req.now) {
            Ok(owner) if owner == user => Ok(issue(false)),
            _ => Err(LoginError::WrongPassword(user.clone())),
        };
    }
    let password_ok = match realm.kind {
        RealmType::Pve => files.shadow.check(user.name(), req.password),
        RealmType::Pam => pam(user.name(), req.password),
    };
    if !password_ok {
        return Err(LoginError::WrongPassword(user.clone()));
    }
    let Some(tfa) = files.tfa.users.get_mut(&user).filter(|t| t.is_configured()) else {
        return Ok(issue(false));
    };
    let factor = req
        .second_factor
        .ok_or_else(|| LoginError::SecondFactorRequired(user.clone()))?;
    tfa.verify(factor, req.now)
        .map_err(|error| LoginError::SecondFactor {
            user: user.clone(),
            error,
        })?;
    Ok(issue(true))
}

/// Why a request with a ticket cookie is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestAuthError {
    #[error(transparent)]
    Ticket(#[from] TicketError),
    #[error(transparent)]
    Csrf(#[from] CsrfError),
    #[error(transparent)]
    Unusable(#[from] Unusable),
}

/// Authenticates a request carrying a ticket cookie: the ticket, the user's state now, and for
/// state-changing methods the CSRF header. The identity every check then uses.
pub fn authenticate_ticket(
    keys: &TicketKeys,
    csrf: &CsrfSecret,
    users: &UserCfg,
    ticket: &str,
    csrf_header: Option<&str>,
    method: &str,
    now: u64,
) -> Result<Authid, RequestAuthError> {
    let user = ticket::verify(keys, ticket, now)?;
    let auth = Authid::user(user);
    check_usable(users, &auth, now)?;
    if method_needs_csrf(method) {
        csrf.verify(&auth.user, csrf_header, now)?;
    }
    Ok(auth)
}

#[cfg(test)]
#[path = "login_tests.rs"]
mod tests;
