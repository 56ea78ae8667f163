//! `POST /access/ticket` on the node: reads the files, runs `brigade_access::login::login`
//! (PAM for the `pam` realm), spends a used second factor in priv/tfa.cfg, logs failures.

use std::net::IpAddr;
use std::sync::Arc;

use brigade_access::files;
use brigade_access::login::{login, LoginError, LoginFiles, LoginRequest};
use brigade_access::shadow::ShadowCfg;
use brigade_access::tfa::{SecondFactor, TfaCfg, TOTP_DIGITS};
use brigade_cfs::{CfsError, Op};

use super::{now, pam_auth, read_file};
use crate::error::NodeError;
use crate::node::{cfs_path, Node};

/// What a login presents.
#[derive(Debug, Clone)]
pub struct LoginInput {
    pub username: String,
    pub realm: Option<String>,
    /// A password, or a valid ticket of the same user to renew it.
    pub password: String,
    /// A TOTP code (six digits) or a recovery code.
    pub otp: Option<String>,
    pub source: IpAddr,
}

/// A successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAnswer {
    pub username: String,
    pub ticket: String,
    pub csrf_token: String,
}

/// A six-digit code is a TOTP code; anything else a recovery code.
pub fn second_factor(otp: &str) -> SecondFactor<'_> {
    if otp.len() == TOTP_DIGITS && otp.bytes().all(|b| b.is_ascii_digit()) {
        SecondFactor::Totp(otp)
    } else {
        SecondFactor::Recovery(otp)
    }
}

impl Node {
    /// Decides a login and issues the ticket and CSRF token.
    pub async fn login(self: &Arc<Self>, input: LoginInput) -> Result<LoginAnswer, NodeError> {
        let rt = self.require_cluster()?.clone();
        let st = self.access_state();
        let keys = self.current_ticket_keys().await?;
        let csrf = self.csrf_secret().await?;
        let (shadow_raw, _) = read_file(&rt.cfs, files::SHADOW_CFG);
        let shadow = ShadowCfg::parse(&String::from_utf8_lossy(&shadow_raw)).unwrap_or_else(|e| {
            tracing::error!(
                "{} is invalid, no pve-realm password is accepted: {e}",
                files::SHADOW_CFG
            );
            ShadowCfg::default()
        });
        let (tfa_raw, tfa_version) = read_file(&rt.cfs, files::TFA_CFG);
        let tfa = TfaCfg::parse(&String::from_utf8_lossy(&tfa_raw)).map_err(|e| {
            tracing::error!(
                "{} is invalid, so no login is accepted: {e}",
                files::TFA_CFG
            );
            NodeError::Unavailable(format!(
                "logins are refused until {} is fixed: {e}",
                files::TFA_CFG
            ))
        })?;
        if let Some(why) = &st.users_error {
            tracing::error!("login of {}: {why}", input.username);
        }
        let limiter = self.access.limiter.clone();
        let who = input.clone();
        let (result, tfa) = tokio::task::spawn_blocking(move || {
            let mut tfa = tfa;
            let mut limiter = limiter.lock().unwrap_or_else(|p| p.into_inner());
            let files = LoginFiles {
                users: &st.users,
                domains: &st.domains,
                shadow: &shadow,
                tfa: &mut tfa,
                keys: &keys,
                csrf: &csrf,
            };
            let req = LoginRequest {
                username: &who.username,
                realm: who.realm.as_deref(),
                password: &who.password,
                second_factor: who.otp.as_deref().map(second_factor),
                source: who.source,
                now: now(),
            };
            (login(files, &mut limiter, req, pam_auth::check), tfa)
        })
        .await
        .map_err(NodeError::internal)?;
        let ok = match result {
            Ok(ok) => ok,
            Err(e) => return Err(self.login_failed(&input, e).await),
        };
        if ok.tfa_changed {
            let text = tfa.write().map_err(NodeError::internal)?;
            let op = Op::Write {
                path: cfs_path(files::TFA_CFG)?,
                data: text.into_bytes(),
                expect_version: Some(tfa_version),
                create_exclusive: false,
            };
            match rt.cfs.propose(op).await {
                Ok(_) => {}
                Err(CfsError::VersionMismatch { .. }) => {
                    return Err(NodeError::Conflict(
                        "the second factors changed during the login; log in again".into(),
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(user = %ok.user, source = %input.source, "login");
        Ok(LoginAnswer {
            username: ok.user.to_string(),
            ticket: ok.ticket,
            csrf_token: ok.csrf_token,
        })
    }

    /// Logs a refused login (tracing and the cluster log) and says what the caller is told.
    async fn login_failed(&self, input: &LoginInput, e: LoginError) -> NodeError {
        let name = match &input.realm {
            Some(r) if !input.username.contains('@') => format!("{}@{r}", input.username),
            _ => input.username.clone(),
        };
        if let LoginError::SecondFactorRequired(_) = e {
            return NodeError::TfaRequired(format!(
                "{}: send the TOTP code (or a recovery code) as otp",
                e.public()
            ));
        }
        let msg = format!("failed login of {name:?} from {}: {e}", input.source);
        tracing::warn!("{msg}");
        self.log_event("login-failed", msg).await;
        NodeError::Unauthorized(e.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_digits_are_totp_and_the_rest_recovery() {
        assert_eq!(second_factor("123456"), SecondFactor::Totp("123456"));
        assert_eq!(
            second_factor("abcd-efgh"),
            SecondFactor::Recovery("abcd-efgh")
        );
        assert_eq!(second_factor("12345"), SecondFactor::Recovery("12345"));
    }
}
