//! The mount's inode table: what each inode number stands for (a tree path, a virtual
//! file, a link), stable for the life of the mount, and how a name in a directory
//! resolves to one.

use std::collections::HashMap;

use brigade_core::CfsPath;
use fuser::Errno;

/// Read-only virtual files at the top.
pub(super) const VIRTUAL_FILES: [&str; 4] = [".members", ".vmlist", ".version", ".clusterlog"];
/// Links at the top to this node's guest directories.
pub(super) const LINKS: [&str; 2] = ["qemu-server", "lxc"];
/// The inode of the root directory (FUSE's convention).
pub(super) const ROOT_INO: u64 = 1;

/// What an inode is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Entry {
    /// A file or directory of the tree (its path; "" is the root).
    Tree(String),
    /// One of [`VIRTUAL_FILES`].
    Virtual(&'static str),
    /// One of [`LINKS`].
    Link(&'static str),
}

/// Inode numbers handed out so far, both ways.
#[derive(Debug)]
pub(super) struct Inodes {
    by_entry: HashMap<String, u64>,
    by_ino: HashMap<u64, Entry>,
    next: u64,
}

fn key(e: &Entry) -> String {
    match e {
        Entry::Tree(p) => format!("t:{p}"),
        Entry::Virtual(v) => format!("v:{v}"),
        Entry::Link(l) => format!("l:{l}"),
    }
}

impl Inodes {
    /// A table holding only the root.
    pub(super) fn new() -> Self {
        let root = Entry::Tree(String::new());
        Inodes {
            by_entry: HashMap::from([(key(&root), ROOT_INO)]),
            by_ino: HashMap::from([(ROOT_INO, root)]),
            next: ROOT_INO + 1,
        }
    }

    /// The inode of `e`, numbered on first sight.
    pub(super) fn ino(&mut self, e: Entry) -> u64 {
        let k = key(&e);
        if let Some(i) = self.by_entry.get(&k) {
            return *i;
        }
        let i = self.next;
        self.next += 1;
        self.by_entry.insert(k, i);
        self.by_ino.insert(i, e);
        i
    }

    /// What inode `ino` stands for, if it was handed out.
    pub(super) fn entry(&self, ino: u64) -> Option<Entry> {
        self.by_ino.get(&ino).cloned()
    }
}

/// The entry `name` names in directory `dir` (a tree path): the virtual files and links
/// exist only at the top; any other name must make a valid tree path.
pub(super) fn child_entry(dir: &str, name: &str) -> Result<Entry, Errno> {
    if dir.is_empty() {
        if let Some(v) = VIRTUAL_FILES.iter().find(|v| **v == name) {
            return Ok(Entry::Virtual(v));
        }
        if let Some(l) = LINKS.iter().find(|l| **l == name) {
            return Ok(Entry::Link(l));
        }
    }
    let path = if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    };
    path.parse::<CfsPath>().map_err(|_| Errno::EINVAL)?;
    Ok(Entry::Tree(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_are_stable_and_distinct_and_the_root_is_one() {
        let mut t = Inodes::new();
        assert_eq!(t.ino(Entry::Tree(String::new())), ROOT_INO);
        let a = t.ino(Entry::Tree("nodes".into()));
        let v = t.ino(Entry::Virtual(".members"));
        let l = t.ino(Entry::Link("lxc"));
        assert_eq!(
            t.ino(Entry::Tree("nodes".into())),
            a,
            "the same entry, the same inode"
        );
        let mut all = vec![ROOT_INO, a, v, l];
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4);
        assert_eq!(t.entry(v), Some(Entry::Virtual(".members")));
        assert_eq!(t.entry(a), Some(Entry::Tree("nodes".into())));
        assert_eq!(t.entry(9999), None);
        // A tree path named like a virtual file below the top is a different entry.
        assert_ne!(t.ino(Entry::Tree("nodes/.members".into())), v);
    }

    #[test]
    fn names_resolve_to_virtual_files_and_links_only_at_the_top() {
        assert_eq!(child_entry("", ".vmlist"), Ok(Entry::Virtual(".vmlist")));
        assert_eq!(
            child_entry("", "qemu-server"),
            Ok(Entry::Link("qemu-server"))
        );
        assert_eq!(
            child_entry("nodes/n1", "qemu-server"),
            Ok(Entry::Tree("nodes/n1/qemu-server".into()))
        );
        assert_eq!(
            child_entry("", "datacenter.cfg"),
            Ok(Entry::Tree("datacenter.cfg".into()))
        );
        assert_eq!(child_entry("nodes", ".."), Err(Errno::EINVAL));
    }
}
