//! The CLI's command groups.

pub mod cluster;
pub mod fs;
pub mod log;
pub mod node;
pub mod qdevice;
