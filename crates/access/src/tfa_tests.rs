//! Tests of TOTP and recovery codes at fixed times.

use super::*;

/// RFC 6238's SHA-1 test secret.
const RFC_SECRET: &[u8] = b"12345678901234567890";

fn entry() -> TotpEntry {
    TotpEntry::new("phone", RFC_SECRET, 0).expect("entry")
}

#[test]
fn totp_matches_the_rfc_test_vector() {
    // RFC 6238 appendix B: T = 59 s gives 94287082 (8 digits); 6 digits are its last six.
    assert_eq!(entry().code_at(59).expect("code"), "287082");
    assert_eq!(entry().secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

#[test]
fn totp_accepts_the_current_code_and_one_step_either_side() {
    let now = 1_111_111_109;
    let mut e = entry();
    assert_eq!(e.code_at(now).expect("code"), "081804");
    assert_eq!(e.verify("081804", now), Ok(()));
    let mut e = entry();
    let previous = e.code_at(now - TOTP_STEP_SECS).expect("code");
    assert_eq!(e.verify(&previous, now), Ok(()));
    let mut e = entry();
    let next = e.code_at(now + TOTP_STEP_SECS).expect("code");
    assert_eq!(e.verify(&next, now), Ok(()));
}

#[test]
fn totp_rejects_wrong_old_and_replayed_codes() {
    let now = 1_111_111_109;
    let mut e = entry();
    assert_eq!(e.verify("000000", now), Err(TfaError::BadCode));
    assert_eq!(e.verify("", now), Err(TfaError::BadCode));
    let stale = e.code_at(now - 2 * TOTP_STEP_SECS).expect("code");
    assert_eq!(e.verify(&stale, now), Err(TfaError::BadCode));
    let code = e.code_at(now).expect("code");
    assert_eq!(e.verify(&code, now), Ok(()));
    assert_eq!(e.verify(&code, now + 1), Err(TfaError::Replayed));
    // An older code still in the window is refused once a newer one was used.
    let mut e = entry();
    let newer = e.code_at(now + TOTP_STEP_SECS).expect("code");
    let older = e.code_at(now).expect("code");
    assert_eq!(e.verify(&newer, now), Ok(()));
    assert_eq!(e.verify(&older, now), Err(TfaError::Replayed));
}

#[test]
fn short_or_bad_secrets_are_refused() {
    assert!(matches!(
        TotpEntry::new("x", &[0; 8], 0),
        Err(TfaError::BadSecret(_))
    ));
    let mut e = entry();
    e.secret = "not base32!".into();
    assert!(matches!(
        e.verify("123456", 59),
        Err(TfaError::BadSecret(_))
    ));
}

fn random() -> Vec<u8> {
    (0..RECOVERY_RANDOM_BYTES)
        .map(|i| (i * 7 + 3) as u8)
        .collect()
}

#[test]
fn recovery_codes_work_once_each() {
    let (mut stored, shown) = RecoveryCodes::generate(&random()).expect("codes");
    assert_eq!(shown.len(), RECOVERY_CODE_COUNT);
    assert!(
        shown
            .iter()
            .all(|c| c.len() == 19 && c.matches('-').count() == 3),
        "{shown:?}"
    );
    assert!(stored
        .hashes
        .iter()
        .flatten()
        .all(|h| !shown.iter().any(|c| h.contains(c.as_str()))));
    assert_eq!(stored.consume(&shown[3]), Ok(RECOVERY_CODE_COUNT - 1));
    assert_eq!(stored.consume(&shown[3]), Err(TfaError::BadCode));
    assert_eq!(
        stored.consume(&shown[4].to_uppercase().replace('-', " ")),
        Ok(RECOVERY_CODE_COUNT - 2)
    );
    assert_eq!(
        stored.consume("0000-0000-0000-0000"),
        Err(TfaError::BadCode)
    );
    for code in &shown {
        let _ = stored.consume(code);
    }
    assert_eq!(stored.remaining(), 0);
    assert_eq!(stored.consume(&shown[0]), Err(TfaError::NoRecoveryCodes));
    assert_eq!(
        RecoveryCodes::generate(&[0; 3]).err(),
        Some(TfaError::BadRandom(3))
    );
}

#[test]
fn user_tfa_dispatches_and_needs_configuration() {
    let mut none = UserTfa::default();
    assert!(!none.is_configured());
    assert_eq!(
        none.verify(SecondFactor::Totp("123456"), 59),
        Err(TfaError::NotConfigured)
    );
    assert_eq!(
        none.verify(SecondFactor::Recovery("x"), 59),
        Err(TfaError::NotConfigured)
    );
    let (codes, shown) = RecoveryCodes::generate(&random()).expect("codes");
    let mut user = UserTfa {
        totp: vec![entry()],
        recovery: Some(codes),
    };
    assert!(user.is_configured());
    assert_eq!(user.verify(SecondFactor::Totp("287082"), 59), Ok(()));
    assert_eq!(
        user.verify(SecondFactor::Totp("287082"), 59),
        Err(TfaError::Replayed)
    );
    assert_eq!(user.verify(SecondFactor::Recovery(&shown[0]), 59), Ok(()));
    assert_eq!(
        user.verify(SecondFactor::Recovery(&shown[0]), 59),
        Err(TfaError::BadCode)
    );
}

#[test]
fn tfa_cfg_round_trips_the_spent_state() {
    let (mut codes, shown) = RecoveryCodes::generate(&random()).expect("codes");
    codes.consume(&shown[0]).expect("first use");
    let mut cfg = TfaCfg::default();
    let mut e = entry();
    e.verify("287082", 59).expect("code");
    cfg.users.insert(
        "alice@pve".parse().expect("id"),
        UserTfa {
            totp: vec![e],
            recovery: Some(codes),
        },
    );
    let back = TfaCfg::parse(&cfg.write().expect("serialises")).expect("parses");
    assert_eq!(back, cfg);
    let mut alice = back.users.values().next().cloned().expect("alice");
    assert_eq!(
        alice.verify(SecondFactor::Totp("287082"), 59),
        Err(TfaError::Replayed)
    );
    assert_eq!(
        alice.verify(SecondFactor::Recovery(&shown[0]), 59),
        Err(TfaError::BadCode)
    );
    assert_eq!(TfaCfg::parse(""), Ok(TfaCfg::default()));
    assert!(matches!(
        TfaCfg::parse("{\"users\":{\"bad user\":{}}}"),
        Err(TfaError::Format(_))
    ));
}

#[test]
fn otpauth_uri_names_the_parameters() {
    let uri = entry().otpauth_uri("brigade", "alice@pve");
    assert!(
        uri.starts_with(
            "otpauth://totp/brigade:alice@pve?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"
        ),
        "{uri}"
    );
    assert!(uri.contains("digits=6") && uri.contains("period=30"));
}
