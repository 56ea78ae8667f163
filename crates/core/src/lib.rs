//! Pure core of brigade: identifiers, cfs paths, the configuration file formats, and the
//! one helper every part uses to wait for a condition.

pub mod cluster_conf;
pub mod error;
pub mod ids;
pub mod key_value;
pub mod layout;
pub mod path;
pub mod section_config;
pub mod wait;

pub use error::FormatError;
pub use ids::{NodeName, VmId};
pub use path::CfsPath;
#[cfg(feature = "wait")]
pub use wait::poll_until;
pub use wait::{poll_until_blocking, TimedOut};

/// Wall-clock seconds since the epoch, for display (mtimes, log lines) only.
pub fn unix_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
