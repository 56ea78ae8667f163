//! Host files a guest config may name (`kernel:`, `initrd:`): only below the appliance
//! directory and the storages' directories, so a config cannot make QEMU read
//! `/etc/shadow` as a kernel.

use std::path::{Component, Path, PathBuf};

use brigade_guest::StorageConfig;

/// Config keys of a VM that name a file on the host.
pub const HOST_PATH_KEYS: &[&str] = &["kernel", "initrd"];

/// Where host paths of a guest's config may point, on the guest's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    pub roots: Vec<PathBuf>,
}

/// What the node validating a write knows about where host files may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathPolicy {
    /// The node doing the validation.
    pub node: String,
    /// Its state directory (`{state_dir}` in storage paths).
    pub state_dir: PathBuf,
    /// Its test appliance directory (kernel, initramfs).
    pub appliance_dir: PathBuf,
    pub storage: StorageConfig,
}

impl HostPathPolicy {
    /// The state directory of `node`, as far as this node can tell: nodes laid out like
    /// this one (`.../<name>`, the default `/var/lib/brigade/<name>` and the lab's) have
    /// theirs beside it; otherwise the same path is assumed.
    fn state_dir_of(&self, node: &str) -> PathBuf {
        match (self.state_dir.file_name(), self.state_dir.parent()) {
            (Some(name), Some(parent)) if name == self.node.as_str() => parent.join(node),
            _ => self.state_dir.clone(),
        }
    }

    /// The allowed places for a guest on `node`: the appliance directory and every
    /// storage that node has.
    pub fn for_node(&self, node: &str) -> HostPaths {
        let mut roots = vec![self.appliance_dir.clone()];
        let state_dir = self.state_dir_of(node);
        for s in &self.storage.storages {
            if s.available_on(node) {
                roots.push(s.root(node, &state_dir));
            }
        }
        HostPaths { roots }
    }
}

/// `p` without `.` parts; None if it is relative or climbs with `..`.
fn normal(p: &Path) -> Option<PathBuf> {
    if !p.is_absolute() {
        return None;
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// A host path a guest config may not name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPathError {
    #[error("{key}: {value:?} must be an absolute path without '..'")]
    NotAbsolute { key: String, value: String },
    #[error("{key}: {value} is not an allowed host path; a guest may only name files in the appliance directory or a storage's directory ({places})")]
    Outside {
        key: String,
        value: String,
        /// The allowed places, comma-separated.
        places: String,
    },
}

impl HostPaths {
    /// Refuses `value` of `key` unless it lies below one of the allowed places.
    pub fn check(&self, key: &str, value: &str) -> Result<(), HostPathError> {
        let path = normal(Path::new(value)).ok_or_else(|| HostPathError::NotAbsolute {
            key: key.to_string(),
            value: value.to_string(),
        })?;
        let inside = self
            .roots
            .iter()
            .filter_map(|r| normal(r))
            .any(|root| path != root && path.starts_with(&root));
        if inside {
            return Ok(());
        }
        let places: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
        Err(HostPathError::Outside {
            key: key.to_string(),
            value: value.to_string(),
            places: places.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HostPathPolicy {
        HostPathPolicy {
            node: "n1".into(),
            state_dir: PathBuf::from("/var/lib/brigade/n1"),
            appliance_dir: PathBuf::from("/var/cache/brigade/appliance"),
            storage: StorageConfig::parse(
                "dir: local\n\tpath {state_dir}/storage\n\tcontent images,rootdir\n\n\
                 dir: shared\n\tpath /mnt/pve/nfs\n\tcontent images\n\tshared 1\n\n\
                 dir: only3\n\tpath /srv/{node}\n\tnodes n3\n",
            )
            .expect("storage.cfg"),
        }
    }

    #[test]
    fn host_paths_stay_in_the_appliance_and_storage_directories() {
        let n1 = policy().for_node("n1");
        for ok in [
            "/var/cache/brigade/appliance/vmlinuz",
            "/var/cache/brigade/appliance/./initramfs.img",
            "/var/lib/brigade/n1/storage/images/100/kernel",
            "/mnt/pve/nfs/boot/vmlinuz",
        ] {
            assert_eq!(n1.check("kernel", ok), Ok(()), "{ok}");
        }
        for bad in [
            "/etc/shadow",
            "/var/cache/brigade/appliance2/vmlinuz",
            "/var/cache/brigade/appliance/../../../etc/shadow",
            "/var/cache/brigade/appliance",
            "/srv/n1/vmlinuz",
            "relative/vmlinuz",
        ] {
            let e = n1.check("kernel", bad).expect_err(bad).to_string();
            assert!(e.starts_with("kernel: "), "{e}");
        }
        let e = n1
            .check("initrd", "/etc/shadow")
            .expect_err("outside")
            .to_string();
        assert!(e.contains("/var/cache/brigade/appliance"), "{e}");
        // Another node: its own local storage and the storages it has.
        let n3 = policy().for_node("n3");
        assert_eq!(n3.check("kernel", "/var/lib/brigade/n3/storage/k"), Ok(()));
        assert_eq!(n3.check("kernel", "/srv/n3/k"), Ok(()));
        assert!(n3.check("kernel", "/var/lib/brigade/n1/storage/k").is_err());
    }
}
