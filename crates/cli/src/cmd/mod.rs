//! The CLI's command groups.

pub mod chaos;
pub mod cluster;
pub mod console;
pub mod fs;
pub mod guest;
pub mod ha;
pub mod ha_rules;
pub mod log;
pub mod migrate;
pub mod node;
pub mod qdevice;
pub mod storage;
