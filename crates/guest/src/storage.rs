//! Storages of `storage.cfg` (`dir`, local or `shared 1`) and their volumes: allocate, free, locate, measure.

use std::path::{Path, PathBuf};

use brigade_core::section_config::{self, Section};
use serde::{Deserialize, Serialize};

use crate::error::{GuestError, Result};
use crate::options::parse_bool;
use crate::volume::{is_valid_storage_id, VolumeId};

/// Storage types brigade drives.
pub const SUPPORTED_TYPES: &[&str] = &["dir"];
/// Content types a storage may hold.
pub const CONTENT_TYPES: &[&str] = &["images", "rootdir", "iso", "vztmpl", "backup", "snippets"];
/// Properties a `dir` storage accepts.
const DIR_PROPS: &[&str] = &[
    "path",
    "content",
    "shared",
    "disable",
    "nodes",
    "format",
    "prune-backups",
];

/// One storage definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    pub id: String,
    pub kind: String,
    /// The path as written; `{node}` and `{state_dir}` are expanded per node
    /// (a brigade extension so one file serves nodes sharing a machine).
    pub path: String,
    pub content: Vec<String>,
    pub shared: bool,
    pub disable: bool,
    /// Nodes that have it (all when None).
    pub nodes: Option<Vec<String>>,
}

impl Storage {
    /// The storage's directory on `node`.
    pub fn root(&self, node: &str, state_dir: &Path) -> PathBuf {
        PathBuf::from(
            self.path
                .replace("{node}", node)
                .replace("{state_dir}", &state_dir.to_string_lossy()),
        )
    }

    /// Whether `node` has this storage.
    pub fn available_on(&self, node: &str) -> bool {
        !self.disable
            && self
                .nodes
                .as_ref()
                .is_none_or(|n| n.iter().any(|x| x == node))
    }

    /// Where a volume of this storage lives below `root`.
    pub fn volume_path(root: &Path, volume: &VolumeId) -> PathBuf {
        root.join("images").join(&volume.name)
    }

    fn to_section(&self) -> Section {
        let mut s = Section::new(&self.kind, &self.id)
            .with("path", &self.path)
            .with("content", self.content.join(","));
        if self.shared {
            s = s.with("shared", 1);
        }
        if self.disable {
            s = s.with("disable", 1);
        }
        if let Some(n) = &self.nodes {
            s = s.with("nodes", n.join(","));
        }
        s
    }

    fn from_section(s: &Section) -> Result<Storage> {
        let what = format!("storage {}", s.id);
        if !SUPPORTED_TYPES.contains(&s.kind.as_str()) {
            return Err(GuestError::Invalid(format!(
                "{what}: storage type {:?} is not supported (supported: {})",
                s.kind,
                SUPPORTED_TYPES.join(", ")
            )));
        }
        if !is_valid_storage_id(&s.id) {
            return Err(GuestError::Invalid(format!("{what}: invalid storage id")));
        }
        for (k, _) in &s.props {
            if !DIR_PROPS.contains(&k.as_str()) {
                return Err(GuestError::Invalid(format!(
                    "{what}: unknown property {k:?}"
                )));
            }
        }
        let path = s
            .get("path")
            .filter(|p| {
                let expanded = p.replace("{node}", "n").replace("{state_dir}", "/s");
                expanded.starts_with('/') && !p.contains("..")
            })
            .ok_or_else(|| GuestError::Invalid(format!("{what}: needs an absolute path")))?;
        let content: Vec<String> = s
            .get("content")
            .unwrap_or("images,rootdir")
            .split(',')
            .map(str::to_string)
            .collect();
        if let Some(bad) = content
            .iter()
            .find(|c| !CONTENT_TYPES.contains(&c.as_str()))
        {
            return Err(GuestError::Invalid(format!(
                "{what}: unknown content type {bad:?}"
            )));
        }
        let flag = |k: &str| {
            s.get(k)
                .map(|v| parse_bool(&format!("{what}: {k}"), v))
                .transpose()
        };
        Ok(Storage {
            id: s.id.clone(),
            kind: s.kind.clone(),
            path: path.to_string(),
            content,
            shared: flag("shared")?.unwrap_or(false),
            disable: flag("disable")?.unwrap_or(false),
            nodes: s
                .get("nodes")
                .map(|n| n.split(',').map(str::to_string).collect()),
        })
    }
}

/// The whole storage.cfg.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageConfig {
    pub storages: Vec<Storage>,
}

impl StorageConfig {
    pub fn parse(text: &str) -> Result<Self> {
        let sections = section_config::parse(text)
            .map_err(|e| GuestError::Invalid(format!("storage.cfg: {e}")))?;
        Ok(StorageConfig {
            storages: sections
                .iter()
                .map(Storage::from_section)
                .collect::<Result<_>>()?,
        })
    }

    pub fn to_text(&self) -> String {
        section_config::write(
            &self
                .storages
                .iter()
                .map(Storage::to_section)
                .collect::<Vec<_>>(),
        )
    }

    pub fn get(&self, id: &str) -> Result<&Storage> {
        self.storages
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| GuestError::NotFound(format!("storage {id:?} does not exist")))
    }

    /// Adds a storage; its id must be new.
    pub fn add(&mut self, storage: Storage) -> Result<()> {
        if self.storages.iter().any(|s| s.id == storage.id) {
            return Err(GuestError::Conflict(format!(
                "storage {:?} already exists",
                storage.id
            )));
        }
        // Validate through the same path as a parsed file.
        Storage::from_section(&storage.to_section())?;
        self.storages.push(storage);
        Ok(())
    }

    pub fn remove(&mut self, id: &str) -> Result<Storage> {
        let i = self
            .storages
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(|| GuestError::NotFound(format!("storage {id:?} does not exist")))?;
        Ok(self.storages.remove(i))
    }
}

/// Space on the file system holding `root`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    pub total_bytes: u64,
    pub avail_bytes: u64,
    pub used_bytes: u64,
}

/// Measures the file system of `root` (made if missing).
pub fn space(root: &Path) -> Result<Space> {
    std::fs::create_dir_all(root)
        .map_err(GuestError::io(format!("cannot create {}", root.display())))?;
    let st = nix::sys::statvfs::statvfs(root).map_err(|e| GuestError::Io {
        context: format!("statvfs {}", root.display()),
        source: e.into(),
    })?;
    let frag = st.fragment_size() as u64;
    let total = st.blocks() as u64 * frag;
    let avail = st.blocks_available() as u64 * frag;
    let free = st.blocks_free() as u64 * frag;
    Ok(Space {
        total_bytes: total,
        avail_bytes: avail,
        used_bytes: total.saturating_sub(free),
    })
}

/// Creates a disk image `<vmid>/vm-<vmid>-disk-N.<format>` with qemu-img and returns its volume name.
pub async fn alloc_disk(root: &Path, vmid: u32, size_bytes: u64, format: &str) -> Result<String> {
    if !["qcow2", "raw"].contains(&format) {
        return Err(GuestError::Invalid(format!(
            "disk format {format:?} is not supported (qcow2 or raw)"
        )));
    }
    let dir = root.join("images").join(vmid.to_string());
    std::fs::create_dir_all(&dir)
        .map_err(GuestError::io(format!("cannot create {}", dir.display())))?;
    let name = free_name(&dir, vmid, "disk", Some(format));
    let path = dir.join(&name);
    let out = tokio::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", format])
        .arg(&path)
        .arg(size_bytes.to_string())
        .output()
        .await
        .map_err(GuestError::io(
            "cannot run qemu-img (apt-get install qemu-utils)",
        ))?;
    if !out.status.success() {
        return Err(GuestError::Failed(format!(
            "qemu-img create {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(format!("{vmid}/{name}"))
}

/// Creates a container root directory `<vmid>/subvol-<vmid>-disk-N`, copied from `template`.
pub async fn alloc_subvol(root: &Path, vmid: u32, template: &Path) -> Result<String> {
    if !template.join("sbin/init").exists() {
        return Err(GuestError::Invalid(format!(
            "template {} has no /sbin/init (build one with scripts/build-appliance)",
            template.display()
        )));
    }
    let dir = root.join("images").join(vmid.to_string());
    std::fs::create_dir_all(&dir)
        .map_err(GuestError::io(format!("cannot create {}", dir.display())))?;
    let name = free_name(&dir, vmid, "subvol", None);
    copy_tree(template, &dir.join(&name)).await?;
    Ok(format!("{vmid}/{name}"))
}

/// Copies a directory tree with `cp -a`.
pub async fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let out = tokio::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .await
        .map_err(GuestError::io("cannot run cp"))?;
    if !out.status.success() {
        return Err(GuestError::Failed(format!(
            "copying {} to {} failed: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn free_name(dir: &Path, vmid: u32, kind: &str, ext: Option<&str>) -> String {
    (0..)
        .map(|n| match ext {
            Some(e) => format!("vm-{vmid}-{kind}-{n}.{e}"),
            None => format!("{kind}-{vmid}-disk-{n}"),
        })
        .find(|name| !dir.join(name).exists())
        .unwrap_or_default()
}

/// Removes a volume (an image file or a container directory). Missing is fine.
pub fn free_volume(path: &Path) -> Result<()> {
    let r = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(GuestError::Io {
            context: format!("cannot remove {}", path.display()),
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_cfg_round_trips_and_expands() {
        let text = "dir: local\n\tpath {state_dir}/images\n\tcontent images,rootdir\n\n\
                    dir: shared\n\tpath /mnt/shared\n\tcontent images\n\tshared 1\n\tnodes n1,n2\n";
        let cfg = StorageConfig::parse(text).expect("parses");
        assert_eq!(StorageConfig::parse(&cfg.to_text()).expect("again"), cfg);
        let local = cfg.get("local").expect("local");
        assert_eq!(
            local.root("n1", Path::new("/var/lib/brigade/n1")),
            PathBuf::from("/var/lib/brigade/n1/images")
        );
        let shared = cfg.get("shared").expect("shared");
        assert!(shared.shared && shared.available_on("n2") && !shared.available_on("n3"));
        assert!(cfg.get("nope").is_err());
    }

    #[test]
    fn bad_storage_cfgs_are_refused() {
        for (text, needle) in [
            ("nfs: x\n\tpath /a\n", "not supported"),
            ("dir: x\n\tpath rel\n", "absolute path"),
            ("dir: x\n\tpath /a\n\tcontent images,junk\n", "junk"),
            ("dir: x\n\tpath /a\n\tshared maybe\n", "shared"),
            ("dir: x\n\tpath /a\n\tbogus 1\n", "bogus"),
        ] {
            let e = StorageConfig::parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn add_refuses_duplicates_and_bad_paths() {
        let mut cfg = StorageConfig::default();
        let s = Storage {
            id: "a".into(),
            kind: "dir".into(),
            path: "/a".into(),
            content: vec!["images".into()],
            shared: true,
            disable: false,
            nodes: None,
        };
        cfg.add(s.clone()).expect("added");
        assert!(cfg.add(s.clone()).is_err());
        let bad = Storage {
            id: "b".into(),
            path: "../x".into(),
            ..s
        };
        assert!(cfg.add(bad).is_err());
        assert_eq!(cfg.storages.len(), 1);
    }

    #[test]
    fn space_reports_a_file_system() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = space(d.path()).expect("statvfs");
        assert!(s.total_bytes > 0 && s.avail_bytes <= s.total_bytes);
    }
}
