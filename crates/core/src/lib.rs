//! Pure core of brigade: identifiers, cfs paths and the configuration file formats.

pub mod cluster_conf;
pub mod error;
pub mod ids;
pub mod key_value;
pub mod layout;
pub mod path;
pub mod section_config;

pub use error::FormatError;
pub use ids::{NodeName, VmId};
pub use path::CfsPath;

/// Wall-clock seconds since the epoch, for display (mtimes, log lines) only.
pub fn unix_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
