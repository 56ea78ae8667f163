//! The format decisions' tests: ranges, joins, starts, raises, the mixed-versions warning.

use super::*;
use proptest::prelude::*;

fn r(min: u32, max: u32) -> FormatRange {
    FormatRange { min, max }
}

fn m(name: &str, range: Option<FormatRange>) -> (String, Option<FormatRange>) {
    (name.to_string(), range)
}

#[test]
fn ranges_parse_display_and_intersect() {
    assert_eq!(FormatRange::parse("1"), Ok(r(1, 1)));
    assert_eq!(FormatRange::parse(" 1-2 "), Ok(r(1, 2)));
    assert!(FormatRange::parse("2-1").is_err());
    assert!(FormatRange::parse("x").is_err());
    assert!(FormatRange::parse("1-").is_err());
    assert_eq!(r(1, 2).to_string(), "1 to 2");
    assert_eq!(r(3, 3).to_string(), "3");
    assert_eq!(FormatRange::parse(&r(4, 7).header()), Ok(r(4, 7)));
    assert_eq!(r(1, 2).intersect(r(2, 3)), Some(r(2, 2)));
    assert_eq!(r(1, 1).intersect(r(2, 3)), None);
}

#[test]
fn joiners_of_another_format_are_told_what_to_install() {
    assert_eq!(check_joiner(r(1, 1), 1), Ok(()));
    assert_eq!(check_joiner(r(1, 2), 2), Ok(()));
    assert_eq!(joiner_range(None, None), Ok(r(1, 1)));
    assert_eq!(joiner_range(Some("1"), Some("1-2")), Ok(r(1, 2)));
    assert_eq!(joiner_range(Some("2"), None), Ok(r(2, 2)));
    let older = check_joiner(r(1, 1), 2)
        .expect_err("older refused")
        .to_string();
    assert!(
        older.contains("speaks brigade format version 1, but this cluster speaks format version 2"),
        "{older}"
    );
    assert!(
        older.contains(&format!("install brigade {RELEASE} (format 2)")),
        "{older}"
    );
    assert!(!older.contains("upgrade every member"), "{older}");
    let newer = check_joiner(r(3, 4), 2)
        .expect_err("newer refused")
        .to_string();
    assert!(newer.contains("format version 3 to 4"), "{newer}");
    assert!(newer.contains("upgrade every member"), "{newer}");
    assert!(matches!(
        joiner_range(Some("x"), None),
        Err(FormatMismatch::Malformed(_))
    ));
}

#[test]
fn a_node_that_cannot_speak_the_active_format_does_not_start() {
    assert_eq!(check_start("n1", "0.1.0", r(1, 2), 1), Ok(()));
    let e = check_start("n3", "0.3.0", r(2, 3), 1)
        .expect_err("refused")
        .to_string();
    assert_eq!(
        e,
        "node n3 does not take part in its cluster: this brigade 0.3.0 speaks format version 2 to 3, but the cluster runs format version 1. Install brigade 0.1.0 or a later release that speaks format 1 on n3 and start it again; nothing was changed"
    );
    let e = check_start("n3", "0.1.0", r(1, 1), 9)
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("a newer brigade release, one that speaks format 9"),
        "{e}"
    );
}

#[test]
fn the_active_format_rises_only_when_every_member_speaks_the_higher_one() {
    let all_new = [m("n1", Some(r(1, 2))), m("n2", Some(r(1, 2)))];
    assert_eq!(next_format(1, &all_new), Ok(2));
    let one_old = [m("n1", Some(r(1, 2))), m("n2", Some(r(1, 1)))];
    let e = next_format(1, &one_old).expect_err("n2 holds it back");
    assert_eq!(
        e.to_string(),
        "the cluster already runs format version 1, the highest that every member speaks (n2 speaks no newer format: upgrade it first)"
    );
    let unknown = [m("n1", Some(r(1, 2))), m("n3", None)];
    assert!(matches!(next_format(1, &unknown), Err(RaiseRefused::Unknown(n)) if n == "n3"));
    let apart = [m("n1", Some(r(2, 3))), m("n2", Some(r(1, 1)))];
    assert!(matches!(
        next_format(1, &apart),
        Err(RaiseRefused::NoCommon { .. })
    ));
    assert_eq!(next_format(2, &all_new).map_err(|_| ()), Err(()));
}

#[test]
fn mixed_releases_are_named() {
    let same = [("n1".into(), "0.2.0".into()), ("n2".into(), "0.2.0".into())];
    assert_eq!(mixed_versions(&same), None);
    let mixed = [
        ("n1".into(), "0.2.0".into()),
        ("n2".into(), "0.2.0".into()),
        ("n3".into(), "0.1.0".into()),
    ];
    assert_eq!(
        mixed_versions(&mixed).as_deref(),
        Some("mixed versions: n3 runs 0.1.0, the others 0.2.0 — finish the rolling upgrade")
    );
    let tie = [
        ("n1".into(), "0.10.0".into()),
        ("n2".into(), "0.9.0".into()),
    ];
    assert_eq!(
        mixed_versions(&tie).as_deref(),
        Some("mixed versions: n2 runs 0.9.0, the others 0.10.0 — finish the rolling upgrade")
    );
    assert!(unannounced_members(&[]).is_none());
    let u = unannounced_members(&["n3".into()]).expect("warned");
    assert!(
        u.starts_with("n3 runs a brigade build older than format announcements"),
        "{u}"
    );
}

proptest! {
    #[test]
    fn a_raise_lands_in_every_members_range(ranges in proptest::collection::vec((1u32..5, 0u32..3), 1..6), active in 1u32..5) {
        let members: Vec<_> = ranges
            .iter()
            .enumerate()
            .map(|(i, (min, width))| (format!("n{i}"), Some(r(*min, min + width))))
            .collect();
        if let Ok(next) = next_format(active, &members) {
            prop_assert!(next > active);
            for (_, range) in &members {
                let range = range.expect("known");
                prop_assert!(range.contains(next) && range.contains(active));
            }
        } else {
            // Refused only when some member lacks a higher format or the active one.
            let common = highest_common(&members);
            prop_assert!(common.is_none_or(|c| !c.contains(active) || c.max <= active));
        }
    }

    #[test]
    fn intersection_is_what_both_contain(a in 0u32..6, aw in 0u32..4, b in 0u32..6, bw in 0u32..4, v in 0u32..10) {
        let (x, y) = (r(a, a + aw), r(b, b + bw));
        let both = x.contains(v) && y.contains(v);
        prop_assert_eq!(x.intersect(y).is_some_and(|i| i.contains(v)), both);
    }
}
