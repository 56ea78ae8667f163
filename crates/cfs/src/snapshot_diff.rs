//! The changes a snapshot install makes to a replica's tree, as watchers see
//! them: every path whose content or version differs, every removal, every
//! lock taken, renewed or released. Pure: two trees in, changes out.

use std::collections::BTreeMap;

use crate::command::{Change, ChangeKind};
use crate::tree::Tree;

/// What replacing `old` by `new` changed: removals first (deepest first),
/// then new or changed entries in version order, then locks.
pub fn changes(old: &Tree, new: &Tree) -> Vec<Change> {
    let mut out = Vec::new();
    let new_entries: BTreeMap<&String, _> = new.entries().collect();
    let old_entries: BTreeMap<&String, _> = old.entries().collect();
    for (path, _) in old_entries.iter().rev() {
        if !new_entries.contains_key(path) {
            out.push(Change {
                version: new.version(),
                path: (*path).clone(),
                kind: ChangeKind::Deleted,
            });
        }
    }
    let mut written: Vec<Change> = new_entries
        .iter()
        .filter(|(path, e)| old_entries.get(*path) != Some(*e))
        .map(|(path, e)| Change {
            version: e.version,
            path: (*path).clone(),
            kind: if e.dir {
                ChangeKind::Mkdir
            } else {
                ChangeKind::Written
            },
        })
        .collect();
    written.sort_by_key(|c| c.version);
    out.extend(written);
    let new_locks: BTreeMap<&String, _> = new.locks().collect();
    let old_locks: BTreeMap<&String, _> = old.locks().collect();
    for path in old_locks.keys() {
        if !new_locks.contains_key(path) {
            out.push(Change {
                version: new.version(),
                path: (*path).clone(),
                kind: ChangeKind::Unlocked,
            });
        }
    }
    for (path, l) in &new_locks {
        if old_locks.get(path) != Some(l) {
            out.push(Change {
                version: l.generation,
                path: (*path).clone(),
                kind: ChangeKind::Locked {
                    owner: l.owner.clone(),
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Op};

    fn apply(t: &mut Tree, op: Op) {
        let (r, _) = t.apply(&Command { op, mtime: 0 });
        r.expect("applied");
    }

    fn write(path: &str, data: &str) -> Op {
        Op::Write {
            path: path.parse().expect("path"),
            data: data.as_bytes().to_vec(),
            expect_version: None,
            create_exclusive: false,
        }
    }

    fn lock(path: &str, owner: &str) -> Op {
        Op::Lock {
            path: path.parse().expect("path"),
            owner: owner.into(),
            lease_ms: 1000,
            steal_generation: None,
        }
    }

    #[test]
    fn an_identical_tree_changes_nothing() {
        let mut t = Tree::default();
        apply(&mut t, write("a/b", "1"));
        apply(&mut t, lock("a/b", "x"));
        assert!(changes(&t, &t.clone()).is_empty());
    }

    #[test]
    fn writes_removals_and_locks_are_reported() {
        let mut old = Tree::default();
        apply(&mut old, write("keep", "same"));
        apply(&mut old, write("nodes/n1/lrm_status", "seq 1"));
        apply(&mut old, write("gone/file", "x"));
        apply(&mut old, lock("l/renewed", "a"));
        apply(&mut old, lock("l/released", "a"));
        let mut new = old.clone();
        apply(&mut new, write("nodes/n1/lrm_status", "seq 1")); // same content, new version
        apply(
            &mut new,
            Op::Delete {
                path: "gone".parse().expect("p"),
                expect_version: None,
                recursive: true,
            },
        );
        apply(&mut new, write("fresh", "new"));
        apply(&mut new, lock("l/renewed", "a"));
        apply(
            &mut new,
            Op::Unlock {
                path: "l/released".parse().expect("p"),
                owner: "a".into(),
            },
        );
        let got: Vec<(String, ChangeKind)> = changes(&old, &new)
            .into_iter()
            .map(|c| (c.path, c.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("gone/file".into(), ChangeKind::Deleted),
                ("gone".into(), ChangeKind::Deleted),
                ("nodes/n1/lrm_status".into(), ChangeKind::Written),
                ("fresh".into(), ChangeKind::Written),
                ("l/released".into(), ChangeKind::Unlocked),
                ("l/renewed".into(), ChangeKind::Locked { owner: "a".into() }),
            ]
        );
    }
}
