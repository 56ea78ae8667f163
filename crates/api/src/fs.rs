//! The configuration tree's API bodies: files as read, and the requests that change the tree.

use serde::{Deserialize, Serialize};

/// A file as the API returns it: `content` when the data is UTF-8.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FsFile {
    /// Its path in the tree.
    pub path: String,
    /// Whether it is a directory.
    pub dir: bool,
    /// The cluster version of its last change (pass it as `expect_version` to swap safely).
    pub version: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The leader's wall-clock seconds of its last change (display only).
    pub mtime: u64,
    /// The data as text, when it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The data, base64.
    pub data: String,
}

/// `POST /fs/write`: `content` (text) or `data` (base64), not both.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteRequest {
    /// The file to write (parents are made).
    pub path: String,
    /// The new content as text.
    #[serde(default)]
    pub content: Option<String>,
    /// The new content, base64.
    #[serde(default)]
    pub data: Option<String>,
    /// Compare-and-swap: the version the file must have (0: it must not exist).
    #[serde(default)]
    pub expect_version: Option<u64>,
    /// Fail if the file exists.
    #[serde(default)]
    pub create_exclusive: bool,
}

/// `POST /fs/mkdir`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MkdirRequest {
    /// The directory to make.
    pub path: String,
    /// Make missing parents too (and accept an existing directory), like `mkdir -p`.
    #[serde(default)]
    pub parents: bool,
}

/// `POST /fs/delete`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    /// The file or directory to delete.
    pub path: String,
    /// Delete a non-empty directory with everything below it.
    #[serde(default)]
    pub recursive: bool,
    /// Compare-and-swap: the version it must have.
    #[serde(default)]
    pub expect_version: Option<u64>,
}

/// `POST /fs/rename`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// What to move.
    pub from: String,
    /// Where to (must not exist).
    pub to: String,
}

/// `POST /fs/lock` and `/fs/unlock`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    /// The path to lock.
    pub path: String,
    /// Who holds the lock.
    pub owner: String,
    /// The lease in milliseconds (locks only).
    #[serde(default)]
    pub lease_ms: Option<u64>,
}

/// `GET /fs/read`, `/fs/list` and `/fs/watch`: the path asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PathQuery {
    /// The path in the tree (empty: the root).
    #[serde(default)]
    pub path: String,
    /// Read through the leader (a linearizable read) instead of the local replica.
    #[serde(default)]
    pub consistent: bool,
}

/// `POST /local/mount`: mount (or unmount) the tree on the answering node's machine.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MountRequest {
    /// The mount point.
    #[schema(value_type = String)]
    pub path: std::path::PathBuf,
    /// Unmount instead.
    #[serde(default)]
    pub unmount: bool,
}

/// The answer to a mount or unmount.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mounted {
    /// The mount point.
    #[schema(value_type = String)]
    pub path: std::path::PathBuf,
    /// Whether the tree is mounted there now.
    pub mounted: bool,
}
