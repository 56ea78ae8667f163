//! Tests of the login decision and of ticket-authenticated requests.

use super::*;
use crate::csrf::CsrfError;
use crate::rate_limit::USER_MAX_FAILURES;
use crate::shadow::{hash_password, SALT_BYTES};
use crate::tfa::{TotpEntry, UserTfa};
use crate::user_cfg::User;

const NOW: u64 = 1_800_000_000;
const RFC_SECRET: &[u8] = b"12345678901234567890";

struct World {
    users: UserCfg,
    domains: DomainsCfg,
    shadow: ShadowCfg,
    tfa: TfaCfg,
    keys: TicketKeys,
    csrf: CsrfSecret,
    limiter: LoginLimiter,
}

fn uid(s: &str) -> Userid {
    s.parse().expect("id")
}

fn world() -> World {
    let mut users = UserCfg::new();
    for u in ["alice@pve", "otp@pve", "sys@pam"] {
        users.users.insert(uid(u), User::default());
    }
    let mut shadow = ShadowCfg::default();
    for name in ["alice", "otp"] {
        let hash = hash_password(&format!("{name}-password"), &[7; SALT_BYTES]).expect("hash");
        shadow.hashes.insert(name.into(), hash);
    }
    let mut tfa = TfaCfg::default();
    tfa.users.insert(
        uid("otp@pve"),
        UserTfa {
            totp: vec![TotpEntry::new("phone", RFC_SECRET, 0).expect("totp")],
            recovery: None,
        },
    );
    World {
        users,
        domains: DomainsCfg::default(),
        shadow,
        tfa,
        keys: TicketKeys::new(&[1; 32], NOW - 10).expect("keys"),
        csrf: CsrfSecret::new(&[2; 32]).expect("csrf"),
        limiter: LoginLimiter::default(),
    }
}

fn ip() -> IpAddr {
    IpAddr::from([198, 51, 100, 7])
}

fn request<'a>(
    username: &'a str,
    password: &'a str,
    second_factor: Option<SecondFactor<'a>>,
) -> LoginRequest<'a> {
    LoginRequest {
        username,
        realm: None,
        password,
        second_factor,
        source: ip(),
        now: NOW,
    }
}

fn try_login(w: &mut World, req: LoginRequest<'_>) -> Result<LoginOk, LoginError> {
    let files = LoginFiles {
        users: &w.users,
        domains: &w.domains,
        shadow: &w.shadow,
        tfa: &mut w.tfa,
        keys: &w.keys,
        csrf: &w.csrf,
    };
    login(files, &mut w.limiter, req, |name, password| {
        name == "sys" && password == "linux-password"
    })
}

#[test]
fn the_right_password_gives_a_ticket_and_a_csrf_token() {
    let mut w = world();
    let ok = try_login(&mut w, request("alice@pve", "alice-password", None)).expect("login");
    assert_eq!(
        ticket::verify(&w.keys, &ok.ticket, NOW + 1),
        Ok(uid("alice@pve"))
    );
    assert_eq!(
        w.csrf
            .verify(&uid("alice@pve"), Some(&ok.csrf_token), NOW + 1),
        Ok(())
    );
    assert!(!ok.tfa_changed);
    let split = LoginRequest {
        username: "alice",
        realm: Some("pve"),
        ..request("", "alice-password", None)
    };
    assert!(
        try_login(&mut w, split).is_ok(),
        "user and realm given apart"
    );
}

#[test]
fn pam_users_are_checked_by_the_given_authenticator() {
    let mut w = world();
    assert!(try_login(&mut w, request("sys@pam", "linux-password", None)).is_ok());
    assert!(matches!(
        try_login(&mut w, request("sys@pam", "wrong", None)),
        Err(LoginError::WrongPassword(_))
    ));
}

#[test]
fn wrong_password_unknown_user_and_realm_are_refused_alike() {
    let mut w = world();
    let wrong = try_login(&mut w, request("alice@pve", "bob-password", None)).expect_err("wrong");
    assert!(matches!(wrong, LoginError::WrongPassword(_)));
    let unknown =
        try_login(&mut w, request("nobody@pve", "x-password", None)).expect_err("unknown");
    assert!(matches!(
        unknown,
        LoginError::Unusable(Unusable::UnknownUser(_))
    ));
    let realm =
        try_login(&mut w, request("alice@ldap", "alice-password", None)).expect_err("realm");
    assert_eq!(realm, LoginError::UnknownRealm("ldap".into()));
    let bad = try_login(&mut w, request("no realm", "x", None)).expect_err("bad");
    assert!(matches!(bad, LoginError::BadUsername(_)));
    for e in [wrong, unknown, realm, bad] {
        assert_eq!(e.public(), "authentication failure");
    }
}

#[test]
fn disabled_users_cannot_log_in() {
    let mut w = world();
    w.users.users.insert(
        uid("alice@pve"),
        User {
            enable: false,
            ..User::default()
        },
    );
    let e = try_login(&mut w, request("alice@pve", "alice-password", None)).expect_err("disabled");
    assert!(matches!(e, LoginError::Unusable(Unusable::UserDisabled(_))));
}

#[test]
fn a_configured_second_factor_is_required_and_checked() {
    let mut w = world();
    let e = try_login(&mut w, request("otp@pve", "otp-password", None)).expect_err("needs code");
    assert_eq!(e, LoginError::SecondFactorRequired(uid("otp@pve")));
    assert_eq!(e.public(), "second factor required");
    let code = w.tfa.users[&uid("otp@pve")].totp[0]
        .code_at(NOW)
        .expect("code");
    let e = try_login(
        &mut w,
        request(
            "otp@pve",
            "otp-password",
            Some(SecondFactor::Totp("000000")),
        ),
    )
    .expect_err("bad code");
    assert!(matches!(
        e,
        LoginError::SecondFactor {
            error: TfaError::BadCode,
            ..
        }
    ));
    let ok = try_login(
        &mut w,
        request("otp@pve", "otp-password", Some(SecondFactor::Totp(&code))),
    )
    .expect("login");
    assert!(ok.tfa_changed);
    let e = try_login(
        &mut w,
        request("otp@pve", "otp-password", Some(SecondFactor::Totp(&code))),
    )
    .expect_err("replay");
    assert!(matches!(
        e,
        LoginError::SecondFactor {
            error: TfaError::Replayed,
            ..
        }
    ));
    // A wrong password is refused before the code is looked at.
    let e = try_login(
        &mut w,
        request("otp@pve", "wrong-password", Some(SecondFactor::Totp(&code))),
    )
    .expect_err("pw");
    assert!(matches!(e, LoginError::WrongPassword(_)));
}

#[test]
fn brute_force_is_rate_limited_even_with_the_right_password() {
    let mut w = world();
    for _ in 0..USER_MAX_FAILURES {
        assert!(try_login(&mut w, request("alice@pve", "guess-password", None)).is_err());
    }
    let e = try_login(&mut w, request("alice@pve", "alice-password", None)).expect_err("limited");
    assert!(matches!(e, LoginError::RateLimited(_)));
    assert!(e.public().starts_with("too many failed logins"));
}

#[test]
fn a_valid_ticket_renews_in_place_of_the_password() {
    let mut w = world();
    let first = try_login(&mut w, request("alice@pve", "alice-password", None)).expect("login");
    let later = LoginRequest {
        now: NOW + 3600,
        ..request("alice@pve", &first.ticket, None)
    };
    let renewed = try_login(&mut w, later).expect("renew");
    assert_eq!(
        ticket::verify(&w.keys, &renewed.ticket, NOW + 3600 + 7000),
        Ok(uid("alice@pve"))
    );
    // Another user's ticket is no password.
    let other = LoginRequest {
        now: NOW + 10,
        ..request("otp@pve", &first.ticket, None)
    };
    assert!(matches!(
        try_login(&mut w, other),
        Err(LoginError::WrongPassword(_))
    ));
}

#[test]
fn ticket_requests_need_csrf_for_state_changes() {
    let mut w = world();
    let ok = try_login(&mut w, request("alice@pve", "alice-password", None)).expect("login");
    let auth = |ticket: &str, csrf: Option<&str>, method: &str, now: u64, users: &UserCfg| {
        authenticate_ticket(&w.keys, &w.csrf, users, ticket, csrf, method, now)
    };
    let alice = Authid::user(uid("alice@pve"));
    assert_eq!(
        auth(&ok.ticket, None, "GET", NOW, &w.users),
        Ok(alice.clone())
    );
    assert_eq!(
        auth(&ok.ticket, Some(&ok.csrf_token), "POST", NOW, &w.users),
        Ok(alice)
    );
    assert_eq!(
        auth(&ok.ticket, None, "POST", NOW, &w.users),
        Err(RequestAuthError::Csrf(CsrfError::Missing))
    );
    let bobs = w.csrf.token(&uid("otp@pve"), NOW);
    assert_eq!(
        auth(&ok.ticket, Some(&bobs), "DELETE", NOW, &w.users),
        Err(RequestAuthError::Csrf(CsrfError::Mismatch))
    );
    assert_eq!(
        auth(&ok.ticket, None, "GET", NOW + 3 * 3600, &w.users),
        Err(RequestAuthError::Ticket(TicketError::Expired))
    );
    let mut disabled = w.users.clone();
    disabled.users.insert(
        uid("alice@pve"),
        User {
            enable: false,
            ..User::default()
        },
    );
    assert!(matches!(
        auth(&ok.ticket, None, "GET", NOW, &disabled),
        Err(RequestAuthError::Unusable(_))
    ));
}
