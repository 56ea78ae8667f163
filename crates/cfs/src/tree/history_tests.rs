//! Unit and property tests of the tree's version history: what is kept, its bounds
//! (count, age, bytes), and that replicas (and a snapshot's copy) keep the same.

use proptest::prelude::*;

use super::history::*;
use super::*;
use crate::command::Op;

fn p(s: &str) -> CfsPath {
    s.parse().expect("valid path")
}

fn at(t: &mut Tree, mtime: u64, op: Op) -> CommandResult {
    t.apply(&Command { op, mtime }).0
}

fn write(path: &str, data: &[u8]) -> Op {
    Op::Write {
        path: p(path),
        data: data.to_vec(),
        expect_version: None,
        create_exclusive: false,
    }
}

fn delete(path: &str) -> Op {
    Op::Delete {
        path: p(path),
        expect_version: None,
        recursive: true,
    }
}

fn kept(t: &Tree, path: &str) -> Vec<(Vec<u8>, bool)> {
    t.history()
        .versions(path)
        .map(|o| (o.data.clone(), o.deleted))
        .collect()
}

#[test]
fn every_replaced_and_deleted_content_is_kept() {
    let mut t = Tree::default();
    let v1 = at(&mut t, 10, write("storage.cfg", b"one"))
        .expect("w1")
        .version;
    at(&mut t, 20, write("storage.cfg", b"two")).expect("w2");
    // The same content again is no new version of it.
    at(&mut t, 25, write("storage.cfg", b"two")).expect("w2 again");
    at(&mut t, 30, delete("storage.cfg")).expect("rm");
    assert_eq!(
        kept(&t, "storage.cfg"),
        vec![(b"one".to_vec(), false), (b"two".to_vec(), true)]
    );
    let first = t.history().get("storage.cfg", v1).expect("v1 kept");
    assert_eq!((first.mtime, first.replaced_mtime), (10, 20));
    // A recursive delete keeps every file below; directories have no versions.
    at(
        &mut t,
        40,
        write("nodes/n1/qemu-server/100.conf", b"memory: 64\n"),
    )
    .expect("w");
    at(&mut t, 41, delete("nodes/n1")).expect("rm -r");
    assert_eq!(
        kept(&t, "nodes/n1/qemu-server/100.conf"),
        vec![(b"memory: 64\n".to_vec(), true)]
    );
    assert!(t.history().versions("nodes/n1").next().is_none());
}

#[test]
fn renames_batches_failures_logs_and_secrets() {
    let mut t = Tree::default();
    at(&mut t, 1, write("a", b"1")).expect("w");
    let mv = Op::Rename {
        from: p("a"),
        to: p("b"),
    };
    at(&mut t, 2, mv).expect("mv");
    assert_eq!(kept(&t, "a"), vec![(b"1".to_vec(), true)], "moved away");
    assert!(kept(&t, "b").is_empty(), "b had no content before");
    // A batch keeps what the file had before it, not its steps.
    let batch = Op::Batch {
        ops: vec![write("b", b"2"), write("b", b"3")],
    };
    at(&mut t, 3, batch).expect("batch");
    assert_eq!(kept(&t, "b"), vec![(b"1".to_vec(), false)]);
    // A failed operation keeps nothing.
    let before = t.clone();
    let cas = Op::Write {
        path: p("b"),
        data: b"4".to_vec(),
        expect_version: Some(1),
        create_exclusive: false,
    };
    assert!(at(&mut t, 4, cas).is_err());
    assert_eq!(t, before);
    // Appended logs and priv/ keep no history.
    for _ in 0..3 {
        let line = Op::AppendLine {
            path: p("cluster.log"),
            line: "x".into(),
            keep_bytes: 100,
        };
        at(&mut t, 5, line).expect("append");
    }
    at(&mut t, 6, write("priv/authkey", b"old key")).expect("w");
    at(&mut t, 7, write("priv/authkey", b"new key")).expect("w");
    assert!(kept(&t, "cluster.log").is_empty());
    assert!(kept(&t, "priv/authkey").is_empty());
}

#[test]
fn at_most_the_newest_versions_per_file() {
    let mut t = Tree::default();
    let total = HISTORY_MAX_VERSIONS + 7;
    for i in 0..=total {
        at(&mut t, 100, write("f", i.to_string().as_bytes())).expect("w");
    }
    let k = kept(&t, "f");
    assert_eq!(k.len(), HISTORY_MAX_VERSIONS);
    // The newest previous ones: total-20 .. total-1 (total is the current content).
    let want: Vec<Vec<u8>> = (total - HISTORY_MAX_VERSIONS..total)
        .map(|i| i.to_string().into_bytes())
        .collect();
    assert_eq!(k.into_iter().map(|(d, _)| d).collect::<Vec<_>>(), want);
}

#[test]
fn versions_expire_by_the_commands_time() {
    let mut t = Tree::default();
    at(&mut t, 1000, write("old", b"1")).expect("w");
    at(&mut t, 1000, write("old", b"2")).expect("w");
    at(&mut t, 5000, write("young", b"1")).expect("w");
    at(&mut t, 5000, write("young", b"2")).expect("w");
    // Just within the age: kept.
    at(&mut t, 1000 + HISTORY_MAX_AGE_SECS, write("x", b"x")).expect("w");
    assert_eq!(kept(&t, "old").len(), 1);
    // Past it: the old one goes, the young one stays.
    at(&mut t, 1001 + HISTORY_MAX_AGE_SECS, write("x", b"y")).expect("w");
    assert!(kept(&t, "old").is_empty());
    assert_eq!(kept(&t, "young").len(), 1);
}

#[test]
fn all_versions_stay_within_the_byte_bound_oldest_dropped_first() {
    let mut t = Tree::default();
    let big = vec![b'x'; FILE_MAX_BYTES as usize - 16];
    let files = (HISTORY_MAX_BYTES / FILE_MAX_BYTES) as usize + 5;
    for round in 0..2u8 {
        for i in 0..files {
            let mut data = big.clone();
            data.push(round);
            at(&mut t, 10, write(&format!("f{i}"), &data)).expect("w");
        }
    }
    let h = t.history();
    assert!(h.bytes() <= HISTORY_MAX_BYTES, "{} bytes", h.bytes());
    // The first files' old versions went first; the last ones are kept.
    assert!(kept(&t, "f0").is_empty());
    assert_eq!(kept(&t, &format!("f{}", files - 1)).len(), 1);
    let sum: u64 = h
        .records()
        .map(|r| (r.path.len() + r.old.data.len()) as u64 + RECORD_OVERHEAD_BYTES)
        .sum();
    assert_eq!(sum, h.bytes());
}

fn arb_op() -> impl Strategy<Value = Op> {
    let path = prop_oneof!["a", "b", "d/a", "d/b", "priv/k"].prop_map(|s| p(&s));
    prop_oneof![
        4 => (path.clone(), proptest::collection::vec(any::<u8>(), 0..4))
            .prop_map(|(path, data)| Op::Write { path, data, expect_version: None, create_exclusive: false }),
        1 => path.clone().prop_map(|path| Op::Delete { path, expect_version: None, recursive: true }),
        1 => (path.clone(), path).prop_map(|(from, to)| Op::Rename { from, to }),
    ]
}

fn check_bounds(t: &Tree, now: u64) {
    let h = t.history();
    let mut sum = 0;
    for path in h.paths() {
        let v: Vec<&OldVersion> = h.versions(path).collect();
        assert!(!v.is_empty() && v.len() <= HISTORY_MAX_VERSIONS);
        assert!(keeps_history(path));
        assert!(v
            .windows(2)
            .all(|w| w[0].replaced_version < w[1].replaced_version));
        for o in v {
            assert!(
                o.replaced_mtime + HISTORY_MAX_AGE_SECS >= now,
                "expired kept"
            );
            assert!(o.version < o.replaced_version && o.replaced_version <= t.version());
            sum += (path.len() + o.data.len()) as u64 + RECORD_OVERHEAD_BYTES;
        }
    }
    assert_eq!(sum, h.bytes());
    assert!(h.bytes() <= HISTORY_MAX_BYTES);
}

proptest! {
    /// Two replicas applying the same commands keep the same history, and so does one
    /// that took a snapshot (serialized, as sent to a joiner) halfway and went on.
    #[test]
    fn replicas_and_snapshots_keep_the_same_history(
        ops in proptest::collection::vec((arb_op(), 0u64..3), 1..80),
        cut in 0usize..80,
    ) {
        let (mut a, mut b) = (Tree::default(), Tree::default());
        let mut now = 0;
        let mut pruned_at = 0;
        let mut snap: Option<Tree> = None;
        for (i, (op, step)) in ops.iter().enumerate() {
            // Time moves in days so that expiry happens too.
            now += step * HISTORY_MAX_AGE_SECS / 2;
            if i == cut {
                let bytes = serde_json::to_vec(&a).expect("serialize");
                snap = Some(serde_json::from_slice(&bytes).expect("deserialize"));
            }
            let cmd = Command { op: op.clone(), mtime: now };
            let before = a.version();
            let ra = a.apply(&cmd).0;
            let rb = b.apply(&cmd).0;
            prop_assert_eq!(ra, rb);
            if let Some(s) = snap.as_mut() {
                let _ = s.apply(&cmd);
            }
            // Expiry happens when a change applies (with that change's time).
            if a.version() != before {
                pruned_at = now;
            }
            check_bounds(&a, pruned_at);
        }
        prop_assert_eq!(&a, &b);
        if let Some(s) = snap {
            prop_assert_eq!(s.history(), a.history());
        }
    }
}
