//! The configuration tree's version history: the previous versions of a file as
//! `GET /fs/history` lists them, and `POST /fs/restore`, which writes one back.

use serde::{Deserialize, Serialize};

/// `GET /fs/history`: the file asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The file's path in the tree (it may have been deleted).
    pub path: String,
}

/// One version of a file: its current content (index 0, when it exists) or a
/// previous one the tree kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FsVersion {
    /// 0 is the newest, counting back in time.
    pub index: u32,
    /// The cluster version that wrote this content: what `fs restore --version` takes.
    pub version: u64,
    /// When it was written (leader's wall-clock seconds).
    pub mtime: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Whether this is the file's content now.
    pub current: bool,
    /// Whether the change that replaced it removed the file (deleted, or moved away):
    /// this is a deleted file's last content.
    pub deleted: bool,
    /// The cluster version of the change that replaced it (none for the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_version: Option<u64>,
    /// When that change happened (leader's wall-clock seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_mtime: Option<u64>,
}

/// The answer of `GET /fs/history`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FsHistory {
    /// The file.
    pub path: String,
    /// Whether the file exists now.
    pub exists: bool,
    /// Its versions, newest first (index 0 first).
    pub versions: Vec<FsVersion>,
}

/// `POST /fs/restore`: write a kept version of a file back as its new content.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FsRestoreRequest {
    /// The file.
    pub path: String,
    /// The version to bring back (a `version` that `GET /fs/history` lists).
    pub version: u64,
}

/// The answer of `POST /fs/restore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Restored {
    /// The file.
    pub path: String,
    /// The version whose content was written back.
    pub restored: u64,
    /// The file's new version (its content is that of `restored`).
    pub version: u64,
    /// Its size in bytes.
    pub size: u64,
}
