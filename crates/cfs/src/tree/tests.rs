//! Unit and property tests of the pure tree.

use proptest::prelude::*;

use super::*;
use crate::command::Op;

fn p(s: &str) -> CfsPath {
    s.parse().expect("valid path")
}

fn run(t: &mut Tree, op: Op) -> CommandResult {
    t.apply(&Command { op, mtime: 7 }).0
}

fn write(path: &str, data: &str) -> Op {
    Op::Write {
        path: p(path),
        data: data.as_bytes().to_vec(),
        expect_version: None,
        create_exclusive: false,
    }
}

#[test]
fn write_creates_parents_and_versions_increase() {
    let mut t = Tree::default();
    let a = run(
        &mut t,
        write("nodes/n1/qemu-server/100.conf", "memory: 256\n"),
    )
    .expect("ok");
    assert_eq!(a.version, 1);
    assert!(t.get(&p("nodes/n1")).expect("dir").dir);
    assert_eq!(t.list(&p("nodes/n1/qemu-server")).expect("list").len(), 1);
    let b = run(
        &mut t,
        write("nodes/n1/qemu-server/100.conf", "memory: 512\n"),
    )
    .expect("ok");
    assert_eq!(b.version, 2);
    assert_eq!(
        t.get(&p("nodes/n1/qemu-server/100.conf"))
            .expect("file")
            .data,
        b"memory: 512\n"
    );
}

#[test]
fn compare_and_swap() {
    let mut t = Tree::default();
    let v1 = run(&mut t, write("a", "1")).expect("ok").version;
    let cas = |expect| Op::Write {
        path: p("a"),
        data: b"2".to_vec(),
        expect_version: Some(expect),
        create_exclusive: false,
    };
    let before = t.clone();
    assert_eq!(
        run(&mut t, cas(v1 + 5)),
        Err(CfsError::VersionMismatch {
            path: "/a".into(),
            expected: v1 + 5,
            actual: v1
        })
    );
    assert_eq!(t, before, "a failed CAS changes nothing");
    run(&mut t, cas(v1)).expect("matching CAS succeeds");
    // expect_version 0 means "must not exist".
    let must_not_exist = |path: &str| Op::Write {
        path: p(path),
        data: vec![],
        expect_version: Some(0),
        create_exclusive: false,
    };
    run(&mut t, must_not_exist("b")).expect("b did not exist");
    assert!(run(&mut t, must_not_exist("b")).is_err(), "b exists now");
}

#[test]
fn create_exclusive_and_rename_onto_existing_fail_without_change() {
    let mut t = Tree::default();
    run(&mut t, write("x", "1")).expect("ok");
    run(&mut t, write("y", "2")).expect("ok");
    let before = t.clone();
    let excl = Op::Write {
        path: p("x"),
        data: b"3".to_vec(),
        expect_version: None,
        create_exclusive: true,
    };
    assert_eq!(
        run(&mut t, excl),
        Err(CfsError::Exists { path: "/x".into() })
    );
    assert_eq!(
        run(
            &mut t,
            Op::Rename {
                from: p("x"),
                to: p("y")
            }
        ),
        Err(CfsError::Exists { path: "/y".into() })
    );
    assert_eq!(t, before);
}

#[test]
fn rename_moves_a_guest_config_between_node_dirs() {
    let mut t = Tree::default();
    run(
        &mut t,
        write("nodes/n1/qemu-server/100.conf", "memory: 256\n"),
    )
    .expect("ok");
    run(
        &mut t,
        Op::Mkdir {
            path: p("nodes/n2/qemu-server"),
            parents: true,
        },
    )
    .expect("ok");
    run(
        &mut t,
        Op::Rename {
            from: p("nodes/n1/qemu-server/100.conf"),
            to: p("nodes/n2/qemu-server/100.conf"),
        },
    )
    .expect("ok");
    assert!(t.get(&p("nodes/n1/qemu-server/100.conf")).is_none());
    assert_eq!(
        t.get(&p("nodes/n2/qemu-server/100.conf"))
            .expect("moved")
            .data,
        b"memory: 256\n"
    );
}

#[test]
fn a_guest_id_is_unique_across_nodes_and_kinds() {
    let mut t = Tree::default();
    run(
        &mut t,
        write("nodes/n1/qemu-server/100.conf", "memory: 256\n"),
    )
    .expect("ok");
    run(&mut t, write("nodes/n3/lxc/101.conf", "memory: 64\n")).expect("ok");
    let before = t.clone();
    for taken in [
        "nodes/n2/qemu-server/100.conf",
        "nodes/n1/lxc/100.conf",
        "nodes/n0/qemu-server/101.conf",
    ] {
        assert!(
            matches!(
                run(&mut t, write(taken, "memory: 1\n")),
                Err(CfsError::GuestIdTaken { .. })
            ),
            "{taken}"
        );
    }
    run(&mut t, write("nodes/n2/other.conf", "x")).expect("ok");
    assert!(matches!(
        run(
            &mut t,
            Op::Rename {
                from: p("nodes/n2/other.conf"),
                to: p("nodes/n2/qemu-server/101.conf"),
            }
        ),
        Err(CfsError::GuestIdTaken { vmid: 101, .. })
    ));
    // Overwriting its own config and moving it to another node are fine.
    run(
        &mut t,
        write("nodes/n1/qemu-server/100.conf", "memory: 512\n"),
    )
    .expect("ok");
    run(
        &mut t,
        Op::Rename {
            from: p("nodes/n1/qemu-server/100.conf"),
            to: p("nodes/n2/qemu-server/100.conf"),
        },
    )
    .expect("ok");
    assert!(before.get(&p("nodes/n2/other.conf")).is_none());
}

#[test]
fn rename_of_a_directory_moves_its_subtree() {
    let mut t = Tree::default();
    run(&mut t, write("a/b/c", "1")).expect("ok");
    run(
        &mut t,
        Op::Rename {
            from: p("a"),
            to: p("z/a"),
        },
    )
    .expect("ok");
    assert_eq!(t.get(&p("z/a/b/c")).expect("moved").data, b"1");
    assert!(t.get(&p("a/b")).is_none());
    assert!(matches!(
        run(
            &mut t,
            Op::Rename {
                from: p("z"),
                to: p("z/a/q")
            }
        ),
        Err(CfsError::Invalid { .. })
    ));
}

#[test]
fn limits_are_enforced() {
    let mut t = Tree::default();
    let big = Op::Write {
        path: p("big"),
        data: vec![0; FILE_MAX_BYTES as usize + 1],
        expect_version: None,
        create_exclusive: false,
    };
    assert!(matches!(
        run(&mut t, big),
        Err(CfsError::FileTooLarge { .. })
    ));
    assert!(t.is_empty());
    let max = Op::Write {
        path: p("max"),
        data: vec![0; FILE_MAX_BYTES as usize],
        expect_version: None,
        create_exclusive: false,
    };
    run(&mut t, max).expect("a file at the limit is fine");
}

#[test]
fn delete_rules() {
    let mut t = Tree::default();
    run(&mut t, write("d/f", "1")).expect("ok");
    assert_eq!(
        run(
            &mut t,
            Op::Delete {
                path: p("d"),
                expect_version: None,
                recursive: false
            }
        ),
        Err(CfsError::NotEmpty { path: "/d".into() })
    );
    assert_eq!(
        run(
            &mut t,
            Op::Delete {
                path: p("nope"),
                expect_version: None,
                recursive: false
            }
        ),
        Err(CfsError::NotFound {
            path: "/nope".into()
        })
    );
    run(
        &mut t,
        Op::Delete {
            path: p("d"),
            expect_version: None,
            recursive: true,
        },
    )
    .expect("ok");
    assert!(t.is_empty());
    assert_eq!(t.bytes(), 0);
}

#[test]
fn writing_through_a_file_is_not_a_directory() {
    let mut t = Tree::default();
    run(&mut t, write("f", "1")).expect("ok");
    assert_eq!(
        run(&mut t, write("f/g", "2")),
        Err(CfsError::NotADirectory { path: "/f".into() })
    );
    assert_eq!(
        run(
            &mut t,
            Op::Mkdir {
                path: p("f"),
                parents: false
            }
        ),
        Err(CfsError::Exists { path: "/f".into() })
    );
    run(
        &mut t,
        Op::Mkdir {
            path: p("m"),
            parents: false,
        },
    )
    .expect("ok");
    assert_eq!(
        run(&mut t, write("m", "x")),
        Err(CfsError::IsADirectory { path: "/m".into() })
    );
}

#[test]
fn locks_and_stealing() {
    let mut t = Tree::default();
    let lock = |owner: &str, steal| Op::Lock {
        path: p("priv/lock/100"),
        owner: owner.into(),
        lease_ms: 1000,
        steal_generation: steal,
    };
    let g = run(&mut t, lock("n1", None))
        .expect("ok")
        .lock_generation
        .expect("generation");
    assert_eq!(
        run(&mut t, lock("n2", None)),
        Err(CfsError::Locked {
            path: "/priv/lock/100".into(),
            owner: "n1".into()
        })
    );
    assert!(
        matches!(
            run(&mut t, lock("n2", Some(g + 100))),
            Err(CfsError::Locked { .. })
        ),
        "a stale steal fails"
    );
    let g2 = run(&mut t, lock("n1", None))
        .expect("renew")
        .lock_generation
        .expect("generation");
    assert!(
        matches!(
            run(&mut t, lock("n2", Some(g))),
            Err(CfsError::Locked { .. })
        ),
        "renewal invalidates the steal"
    );
    run(&mut t, lock("n2", Some(g2))).expect("steal after expiry");
    assert!(matches!(
        run(
            &mut t,
            Op::Unlock {
                path: p("priv/lock/100"),
                owner: "n1".into()
            }
        ),
        Err(CfsError::NotLockOwner { .. })
    ));
    run(
        &mut t,
        Op::Unlock {
            path: p("priv/lock/100"),
            owner: "n2".into(),
        },
    )
    .expect("ok");
}

#[test]
fn append_line_keeps_the_newest_lines_within_the_bound() {
    let mut t = Tree::default();
    let append = |line: &str| Op::AppendLine {
        path: p("cluster.log"),
        line: line.into(),
        keep_bytes: 20,
    };
    for i in 0..10 {
        run(&mut t, append(&format!("event {i}"))).expect("append");
    }
    let data =
        String::from_utf8(t.get(&p("cluster.log")).expect("log").data.clone()).expect("utf8");
    assert!(data.len() <= 20, "{data:?}");
    assert_eq!(data, "event 8\nevent 9\n");
    assert!(run(&mut t, append("two\nlines")).is_err());
    assert!(run(
        &mut t,
        Op::AppendLine {
            path: p("cluster.log"),
            line: "x".repeat(30),
            keep_bytes: 20
        }
    )
    .is_err());
}

#[test]
fn batch_is_all_or_nothing() {
    let mut t = Tree::default();
    run(&mut t, write("keep", "1")).expect("ok");
    let before = t.clone();
    let batch = Op::Batch {
        ops: vec![
            write("new", "x"),
            Op::Delete {
                path: p("missing"),
                expect_version: None,
                recursive: false,
            },
        ],
    };
    assert!(run(&mut t, batch).is_err());
    assert_eq!(t, before);
}

fn arb_path() -> impl Strategy<Value = CfsPath> {
    proptest::collection::vec(prop_oneof!["a", "b", "c"], 1..4)
        .prop_map(|v| v.join("/").parse().expect("valid"))
}

fn arb_op() -> impl Strategy<Value = Op> {
    let leaf = prop_oneof![
        (
            arb_path(),
            proptest::collection::vec(any::<u8>(), 0..16),
            proptest::option::of(0u64..20),
            any::<bool>()
        )
            .prop_map(|(path, data, expect_version, create_exclusive)| Op::Write {
                path,
                data,
                expect_version,
                create_exclusive
            }),
        (arb_path(), any::<bool>()).prop_map(|(path, parents)| Op::Mkdir { path, parents }),
        (arb_path(), proptest::option::of(0u64..20), any::<bool>()).prop_map(
            |(path, expect_version, recursive)| Op::Delete {
                path,
                expect_version,
                recursive
            }
        ),
        (arb_path(), arb_path()).prop_map(|(from, to)| Op::Rename { from, to }),
        (
            arb_path(),
            prop_oneof!["x", "y"],
            proptest::option::of(0u64..20)
        )
            .prop_map(|(path, owner, steal_generation)| Op::Lock {
                path,
                owner: owner.clone(),
                lease_ms: 5,
                steal_generation
            }),
    ];
    prop_oneof![4 => leaf.clone(), 1 => proptest::collection::vec(leaf, 1..4).prop_map(|ops| Op::Batch { ops })]
}

fn check_invariants(t: &Tree) {
    let mut bytes = 0;
    for (k, e) in t.entries() {
        bytes += (k.len() + e.data.len()) as u64;
        let path: CfsPath = k.parse().expect("stored paths are valid");
        let parent = path.parent();
        if !parent.is_root() {
            assert!(
                t.get(&parent).is_some_and(|d| d.dir),
                "{k} has no parent directory"
            );
        }
        assert!(e.version <= t.version());
        assert!(!e.dir || e.data.is_empty());
    }
    assert_eq!(bytes, t.bytes());
}

proptest! {
    #[test]
    fn random_operations_keep_the_tree_consistent(ops in proptest::collection::vec(arb_op(), 1..60)) {
        let mut t = Tree::default();
        for op in ops {
            let before = t.clone();
            let (result, changes) = t.apply(&Command { op, mtime: 1 });
            match result {
                Err(_) => prop_assert_eq!(&t, &before, "failed operations change nothing"),
                Ok(a) if changes.is_empty() => prop_assert_eq!(a.version, before.version()),
                Ok(a) => {
                    prop_assert_eq!(a.version, before.version() + 1);
                    prop_assert!(changes.iter().all(|c| c.version == a.version));
                }
            }
            check_invariants(&t);
        }
        // A tree rebuilt from its parts (as after a restart) is the same tree.
        let rebuilt = Tree::from_parts(
            t.entries().map(|(k, v)| (k.clone(), v.clone())).collect(),
            t.locks().map(|(k, v)| (k.clone(), v.clone())).collect(),
            t.version(),
        );
        prop_assert_eq!(rebuilt.bytes(), t.bytes());
    }
}
