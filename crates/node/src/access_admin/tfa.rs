//! Second factors (`/access/tfa`): TOTP enrolled in two calls (a fresh secret, then a
//! first code of it), 10 single-use recovery codes shown once; kept in priv/tfa.cfg.

use brigade_access::grant;
use brigade_access::tfa::{RecoveryCodes, TotpEntry, RECOVERY_RANDOM_BYTES, TOTP_SECRET_MIN_BYTES};
use brigade_access::{Authid, Permissions, UserCfg, Userid};
use brigade_api::access::{TfaAdd, TfaAdded, TfaEntry, TotpInfo};
use rand::RngCore;

use super::{effective_caller, grant_error, modify, now, parse_id, read_user_cfg, store};
use crate::error::NodeError;
use crate::node::Node;

/// The issuer authenticator apps show.
pub const TOTP_ISSUER: &str = "brigade";

/// Bytes of a new TOTP secret (160 bits, as RFC 4226 recommends).
const TOTP_SECRET_BYTES: usize = 20;

/// Oneself (not through a token), or `User.Modify` over the user as for changing it.
fn check(cfg: &UserCfg, auth: &Authid, target: &Userid) -> Result<(), NodeError> {
    let caller = effective_caller(cfg, auth);
    if caller.is_token() {
        return Err(NodeError::Forbidden(
            "API tokens cannot change second factors".into(),
        ));
    }
    if !cfg.users.contains_key(target) {
        return Err(NodeError::NotFound(format!("user {target} does not exist")));
    }
    if &caller.user == target {
        return Ok(());
    }
    let perms = Permissions::new(cfg, now());
    grant::check_user_update(&perms, cfg, &caller, target, None).map_err(grant_error)
}

fn entry(id: &Userid, t: &brigade_access::tfa::UserTfa) -> TfaEntry {
    TfaEntry {
        userid: id.to_string(),
        totp: t
            .totp
            .iter()
            .map(|e| TotpInfo {
                id: e.id.clone(),
                description: e.description.clone(),
                created: e.created,
            })
            .collect(),
        recovery_remaining: t.recovery.as_ref().map(|r| r.remaining()).unwrap_or(0),
    }
}

/// The second factors of the users the caller may change (and its own).
pub fn list(node: &Node, auth: &Authid) -> Result<Vec<TfaEntry>, NodeError> {
    let f = store::read_files(node)?;
    Ok(f.tfa
        .users
        .iter()
        .filter(|(id, _)| check(&f.user, auth, id).is_ok())
        .map(|(id, t)| entry(id, t))
        .collect())
}

/// `text` as a QR code, an SVG image (medium error correction, as authenticator apps read).
fn qr_svg(text: &str) -> Result<String, NodeError> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(NodeError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(QR_MIN_PIXELS, QR_MIN_PIXELS)
        .build())
}

/// The smallest side of the QR image, in SVG pixels.
const QR_MIN_PIXELS: u32 = 200;

fn new_totp_id() -> String {
    let mut b = [0u8; 4];
    rand::thread_rng().fill_bytes(&mut b);
    format!("totp-{}", hex::encode(b))
}

pub async fn add(
    node: &Node,
    auth: &Authid,
    userid: &str,
    req: TfaAdd,
) -> Result<TfaAdded, NodeError> {
    let id: Userid = parse_id("user id", userid)?;
    match req.kind.as_str() {
        "totp" => match (&req.secret, &req.value) {
            (None, None) => offer_totp(node, auth, &id, &req),
            (Some(secret), Some(code)) => confirm_totp(node, auth, &id, &req, secret, code).await,
            _ => Err(NodeError::Invalid(
                "to confirm a TOTP give both secret and value (a current code of it); give neither for a new secret".into(),
            )),
        },
        "recovery" => recovery(node, auth, &id).await,
        other => Err(NodeError::Invalid(format!(
            "type {other:?}: use totp or recovery"
        ))),
    }
}

/// A fresh secret and its URI; nothing is stored until a code of it confirms it.
fn offer_totp(
    node: &Node,
    auth: &Authid,
    id: &Userid,
    req: &TfaAdd,
) -> Result<TfaAdded, NodeError> {
    let cfg = read_user_cfg(node)?;
    check(&cfg, auth, id)?;
    let mut secret = [0u8; TOTP_SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut secret);
    let mut e = TotpEntry::new(&new_totp_id(), &secret, now()).map_err(NodeError::internal)?;
    e.description = req.description.clone().unwrap_or_default();
    let uri = e.otpauth_uri(TOTP_ISSUER, id.as_str());
    Ok(TfaAdded {
        kind: "totp".into(),
        id: Some(e.id.clone()),
        qr_svg: Some(qr_svg(&uri)?),
        uri: Some(uri),
        secret: Some(e.secret),
        confirmed: false,
        recovery: None,
    })
}

async fn confirm_totp(
    node: &Node,
    auth: &Authid,
    id: &Userid,
    req: &TfaAdd,
    secret: &str,
    code: &str,
) -> Result<TfaAdded, NodeError> {
    // Base32 of at least TOTP_SECRET_MIN_BYTES bytes (8 characters carry 5 bytes).
    if secret.trim_end_matches('=').len() * 5 / 8 < TOTP_SECRET_MIN_BYTES {
        return Err(NodeError::Invalid(format!(
            "secret: a base32 TOTP secret of at least {TOTP_SECRET_MIN_BYTES} bytes"
        )));
    }
    let mut e = TotpEntry {
        id: new_totp_id(),
        description: req.description.clone().unwrap_or_default(),
        created: now(),
        secret: secret.to_string(),
        last_step: 0,
    };
    e.verify(code.trim(), now()).map_err(|err| {
        NodeError::Invalid(format!("the code does not confirm this TOTP secret: {err}"))
    })?;
    let out_id = e.id.clone();
    modify(node, |f| {
        check(&f.user, auth, id)?;
        let user = f.tfa.users.entry(id.clone()).or_default();
        if user.totp.iter().any(|t| t.secret == e.secret) {
            return Err(NodeError::Conflict(
                "this TOTP secret is already enrolled".into(),
            ));
        }
        user.totp.push(e.clone());
        Ok(())
    })
    .await?;
    Ok(TfaAdded {
        kind: "totp".into(),
        id: Some(out_id),
        secret: None,
        uri: None,
        qr_svg: None,
        confirmed: true,
        recovery: None,
    })
}

/// 10 new recovery codes (replacing any older ones), answered once.
async fn recovery(node: &Node, auth: &Authid, id: &Userid) -> Result<TfaAdded, NodeError> {
    let mut random = vec![0u8; RECOVERY_RANDOM_BYTES];
    rand::thread_rng().fill_bytes(&mut random);
    let (codes, plain) = RecoveryCodes::generate(&random).map_err(NodeError::internal)?;
    modify(node, |f| {
        check(&f.user, auth, id)?;
        f.tfa.users.entry(id.clone()).or_default().recovery = Some(codes.clone());
        Ok(())
    })
    .await?;
    Ok(TfaAdded {
        kind: "recovery".into(),
        id: None,
        secret: None,
        uri: None,
        qr_svg: None,
        confirmed: true,
        recovery: Some(plain),
    })
}

/// Removes one factor (a TOTP id, or `recovery`), or all of them when `factor` is None.
pub async fn delete(
    node: &Node,
    auth: &Authid,
    userid: &str,
    factor: Option<&str>,
) -> Result<(), NodeError> {
    let id: Userid = parse_id("user id", userid)?;
    modify(node, |f| {
        check(&f.user, auth, &id)?;
        let missing = || NodeError::NotFound(format!("{id} has no such second factor"));
        match factor {
            None => {
                f.tfa.users.remove(&id).ok_or_else(missing)?;
            }
            Some("recovery") => {
                let u = f.tfa.users.get_mut(&id).ok_or_else(missing)?;
                u.recovery.take().ok_or_else(missing)?;
            }
            Some(fid) => {
                let u = f.tfa.users.get_mut(&id).ok_or_else(missing)?;
                let before = u.totp.len();
                u.totp.retain(|t| t.id != fid);
                if u.totp.len() == before {
                    return Err(missing());
                }
            }
        }
        if f.tfa
            .users
            .get(&id)
            .is_some_and(|u| u.totp.is_empty() && u.recovery.is_none())
        {
            f.tfa.users.remove(&id);
        }
        Ok(())
    })
    .await
}
