//! The CLI's command groups.

pub mod acl;
pub mod backup;
pub mod chaos;
pub mod cluster;
pub mod cluster_format;
pub mod completions;
pub mod confirm;
pub mod console;
pub mod fs;
pub mod fs_history;
pub mod group;
pub mod guest;
pub mod ha;
pub mod ha_rules;
pub mod log;
pub mod login;
pub mod migrate;
pub mod node;
pub mod node_init;
pub mod pool;
pub mod qdevice;
pub mod role;
pub mod storage;
pub mod task;
pub mod token;
pub mod user;
