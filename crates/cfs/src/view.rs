//! What readers get back: files (listings and status are the wire types of crate `api`).

use serde::{Deserialize, Serialize};

pub use brigade_api::cfs::{CfsStatus, DirEntryInfo, MemberInfo};

/// A file or directory with its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub path: String,
    pub dir: bool,
    pub version: u64,
    pub size: u64,
    pub mtime: u64,
    #[serde(with = "crate::b64")]
    pub data: Vec<u8>,
}
