//! Unit tests of the gossip decisions.

use super::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

#[test]
fn small_clusters_stay_all_to_all() {
    assert_eq!(mode(0), Mode::AllToAll);
    assert_eq!(mode(ALL_TO_ALL_MAX_NODES - 1), Mode::AllToAll);
    assert_eq!(mode(ALL_TO_ALL_MAX_NODES), Mode::Gossip);
    assert_eq!(mode(127), Mode::Gossip);
}

#[test]
fn probes_take_every_legacy_peer_and_fanout_distinct_others() {
    let mut rng = StdRng::seed_from_u64(7);
    let candidates: Vec<u64> = (1..=100).collect();
    for _ in 0..50 {
        let p = choose_probes(&candidates, &[500, 3], 4, &mut rng);
        assert_eq!(p.len(), 6, "{p:?}");
        assert!(p.contains(&500) && p.contains(&3));
        let mut d = p.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), p.len(), "no repeats: {p:?}");
    }
    assert_eq!(choose_probes(&[1, 2], &[], 4, &mut rng).len(), 2);
    assert!(choose_probes(&[], &[], 4, &mut rng).is_empty());
}

#[test]
fn probes_cover_every_peer_over_time() {
    let mut rng = StdRng::seed_from_u64(1);
    let candidates: Vec<u64> = (1..=127).collect();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        seen.extend(choose_probes(&candidates, &[], GOSSIP_FANOUT, &mut rng));
    }
    assert_eq!(seen.len(), 127);
}

#[test]
fn ages_and_times_convert_both_ways_and_only_get_fresher() {
    let base = Instant::now();
    let now = base + Duration::from_secs(100);
    assert_eq!(age_ms(now, None), NEVER);
    assert_eq!(seen_at(now, NEVER), None);
    let t = base + Duration::from_millis(97_500);
    assert_eq!(age_ms(now, Some(t)), 2500);
    assert_eq!(seen_at(now, 2500), Some(t));
    assert_eq!(
        age_ms(now, Some(now + Duration::from_secs(1))),
        0,
        "never negative"
    );
    assert_eq!(
        age_ms(now + Duration::from_secs(10_000_000), Some(base)),
        NEVER - 1,
        "very old is not never"
    );
    assert_eq!(fresher(Some(t), Some(now)), Some(now));
    assert_eq!(fresher(Some(now), Some(t)), Some(now));
    assert_eq!(fresher(None, Some(t)), Some(t));
    assert_eq!(fresher(Some(t), None), Some(t));
    assert_eq!(fresher(None, None), None);
}

#[test]
fn digest_windows_rotate_and_cover_everything() {
    let sizes = vec![13; 10];
    let (w, next) = digest_window(&sizes, 0, 13 * 4);
    assert_eq!((w, next), (vec![0, 1, 2, 3], 4));
    let (w, next) = digest_window(&sizes, 8, 13 * 4);
    assert_eq!((w, next), (vec![8, 9, 0, 1], 2));
    let (w, next) = digest_window(&sizes, 3, 10_000);
    assert_eq!(w.len(), 10, "all fit: each once");
    assert_eq!(next, 3);
    assert_eq!(digest_window(&[], 5, 100), (vec![], 0));
    assert_eq!(digest_window(&sizes, 0, 5), (vec![], 0), "nothing fits");
}

#[test]
fn transit_time_is_added_to_relayed_ages_and_never_subtracted() {
    let sec: i64 = 1_000_000_000;
    assert_eq!(transit_ms(10 * sec, 8 * sec, None), 2000, "2 s in a queue");
    assert_eq!(
        transit_ms(10 * sec, 12 * sec, None),
        0,
        "a clock ahead never makes word younger"
    );
    assert_eq!(
        transit_ms(10 * sec, 25 * sec, Some(15_000.0)),
        0,
        "the sender's clock runs 15 s ahead: no lag"
    );
    assert_eq!(transit_ms(10 * sec, 24 * sec, Some(15_000.0)), 1000);
    assert_eq!(arrived_age_ms(500, 2000), 2500);
    assert_eq!(arrived_age_ms(NEVER, 2000), NEVER);
    assert_eq!(arrived_age_ms(NEVER - 5, 2000), NEVER - 1);
}

mod simulation;
