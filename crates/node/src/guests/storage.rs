//! Storages: this node's view of storage.cfg (free space per storage), add and remove.

use brigade_guest::{storage, Storage};

use crate::error::NodeError;
use crate::node::{cfs_path, Node};
use brigade_api::storage::{StorageAddRequest, StorageStatusRow};

impl Node {
    /// Every storage of storage.cfg as this node sees it.
    pub fn local_storage_status(&self) -> Result<Vec<StorageStatusRow>, NodeError> {
        let (cfg, _) = self.storage_cfg()?;
        Ok(cfg
            .storages
            .iter()
            .filter(|s| s.available_on(self.config.name.as_str()))
            .map(|s| {
                let root = self.storage_root(s);
                let space = storage::space(&root);
                StorageStatusRow {
                    storage: s.id.clone(),
                    node: self.config.name.to_string(),
                    kind: s.kind.clone(),
                    path: root.display().to_string(),
                    shared: s.shared,
                    content: s.content.join(","),
                    active: space.is_ok(),
                    total_bytes: space.as_ref().map(|x| x.total_bytes).unwrap_or(0),
                    avail_bytes: space.as_ref().map(|x| x.avail_bytes).unwrap_or(0),
                    used_bytes: space.as_ref().map(|x| x.used_bytes).unwrap_or(0),
                    error: space.err().map(|e| e.to_string()),
                }
            })
            .collect())
    }

    /// The storage definitions (cluster-wide).
    pub fn storage_list(&self) -> Result<Vec<Storage>, NodeError> {
        Ok(self.storage_cfg()?.0.storages)
    }

    pub async fn storage_add(&self, req: StorageAddRequest) -> Result<Storage, NodeError> {
        let (mut cfg, version) = self.storage_cfg()?;
        let s = Storage {
            id: req.storage,
            kind: req.kind,
            path: req.path,
            content: req
                .content
                .unwrap_or_else(|| "images,rootdir".into())
                .split(',')
                .map(str::to_string)
                .collect(),
            shared: req.shared,
            disable: false,
            nodes: req
                .nodes
                .map(|n| n.split(',').map(str::to_string).collect()),
        };
        cfg.add(s.clone())?;
        self.write_guest_config(
            &cfs_path(brigade_core::layout::STORAGE_CFG)?,
            cfg.to_text(),
            Some(version),
        )
        .await?;
        Ok(s)
    }

    pub async fn storage_remove(&self, id: &str) -> Result<(), NodeError> {
        let (mut cfg, version) = self.storage_cfg()?;
        cfg.remove(id)?;
        // Refuse while a guest still uses it.
        let users = self.storage_users(id);
        if !users.is_empty() {
            return Err(NodeError::Conflict(format!(
                "storage {id:?} is used by guest(s) {}; move or destroy them first",
                users
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        self.write_guest_config(
            &cfs_path(brigade_core::layout::STORAGE_CFG)?,
            cfg.to_text(),
            Some(version),
        )
        .await?;
        Ok(())
    }

    /// Guests whose configs reference storage `id`.
    fn storage_users(&self, id: &str) -> Vec<u32> {
        let Some(rt) = self.cluster() else {
            return Vec::new();
        };
        let prefix = format!("{id}:");
        let mut users: Vec<u32> = rt
            .cfs
            .dump(&brigade_core::CfsPath::root())
            .into_iter()
            .filter_map(|(path, (_, data))| {
                let g = brigade_core::layout::parse_guest_config_path(&path)?;
                let text = String::from_utf8_lossy(&data);
                text.lines()
                    .any(|l| {
                        l.split_once(": ")
                            .is_some_and(|(_, v)| v.starts_with(&prefix))
                    })
                    .then_some(g.vmid)
            })
            .collect();
        users.sort_unstable();
        users
    }
}
