//! Property tests: every archive's rows equal a naive consolidation of the raw samples, whatever the gaps.

use brigade_rrd::format::{decode, encode};
use brigade_rrd::{Cf, Rrd, Timeframe, ARCHIVES};
use proptest::prelude::*;

/// Samples: (gap to the previous in seconds, value or unknown).
fn samples() -> impl Strategy<Value = Vec<(u64, Option<f64>)>> {
    prop::collection::vec(
        (
            prop_oneof![
                8 => Just(10u64),
                2 => 1u64..120,
                1 => 1u64..200_000,
                1 => 1u64..40_000_000,
            ],
            prop::option::weighted(0.9, 0.0f64..1e6),
        ),
        1..400,
    )
}

fn build(start: u64, s: &[(u64, Option<f64>)]) -> (Rrd, Vec<(u64, f64)>) {
    let mut r = Rrd::new(&["v", "dup"]);
    let mut t = start;
    let mut raw = Vec::new();
    for (gap, v) in s {
        t += gap;
        let v = v.unwrap_or(f64::NAN);
        assert!(r.update(t, &[v, v]).is_ok(), "times increase");
        if v.is_finite() {
            raw.push((t, v));
        }
    }
    (r, raw)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-3 * a.abs().max(b.abs()).max(1.0)
}

proptest! {
    #[test]
    fn archives_equal_naive_consolidation(start in 1_600_000_000u64..1_700_000_000, s in samples()) {
        let (r, raw) = build(start, &s);
        let now = r.last_update.expect("updated");
        for tf in Timeframe::ALL {
            let spec = ARCHIVES[tf.archive()];
            let avg = r.query(tf, Cf::Average, now);
            let max = r.query(tf, Cf::Max, now);
            prop_assert_eq!(avg.len(), spec.rows);
            prop_assert_eq!(avg.last().map(|x| x.0), Some(now / spec.step_secs * spec.step_secs));
            for ((t, a), (t2, m)) in avg.iter().zip(&max) {
                prop_assert_eq!(t, t2);
                let inb: Vec<f64> = raw.iter().filter(|(st, _)| st / spec.step_secs * spec.step_secs == *t).map(|x| x.1).collect();
                if inb.is_empty() {
                    prop_assert!(a[0].is_none() && m[0].is_none(), "{:?} bucket {} should be empty", tf, t);
                } else {
                    let mean = inb.iter().sum::<f64>() / inb.len() as f64;
                    let mx = inb.iter().copied().fold(f64::MIN, f64::max);
                    let got = a[0].expect("known average");
                    prop_assert!(close(got, mean), "{:?} bucket {}: avg {} want {}", tf, t, got, mean);
                    let gotm = m[0].expect("known maximum");
                    prop_assert!(close(gotm, mx), "{:?} bucket {}: max {} want {}", tf, t, gotm, mx);
                    prop_assert_eq!(a[0], a[1]);
                }
            }
        }
    }

    #[test]
    fn a_query_later_than_the_last_sample_shifts_the_window(s in samples(), later in 0u64..100_000_000) {
        let (r, _) = build(1_650_000_000, &s);
        let last = r.last_update.expect("updated");
        let now = last + later;
        for tf in Timeframe::ALL {
            let spec = ARCHIVES[tf.archive()];
            let rows = r.query(tf, Cf::Average, now);
            prop_assert_eq!(rows.len(), spec.rows);
            let known = rows.iter().filter(|x| x.1[0].is_some()).count();
            let at_last = r.query(tf, Cf::Average, last).iter().filter(|x| x.1[0].is_some()).count();
            prop_assert!(known <= at_last);
            if later > spec.step_secs * spec.rows as u64 {
                prop_assert_eq!(known, 0);
            }
        }
    }

    #[test]
    fn encoding_round_trips(s in samples()) {
        let (r, _) = build(1_650_000_000, &s);
        prop_assert_eq!(decode(&encode(&r)), Ok(r));
    }

    #[test]
    fn damaged_bytes_never_panic_and_are_refused(s in samples(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (r, _) = build(1_650_000_000, &s);
        let mut bytes = encode(&r);
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        prop_assert!(decode(&bytes).is_err());
        prop_assert!(decode(&bytes[..i]).is_err());
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = decode(&bytes);
        let mut v = b"BRRD\x01".to_vec();
        v.extend_from_slice(&bytes);
        let _ = decode(&v);
    }
}
