//! Round-robin history (RRD): samples every 10 s consolidated into archives of average and maximum.
//!
//! An [`Rrd`] holds named fields (`cpu`, `mem`, ...) and the archives of [`ARCHIVES`]:
//! 10 s for an hour, 1 min for a day, 30 min for a week, 6 h for a month, 1 day for a year.
//! Every sample goes into the current bucket of every archive, so a 1-minute average is
//! the mean of its 10-second samples and its maximum their maximum. Pure (no clock, no
//! I/O) except [`file`], which keeps it in a compact file written atomically.

pub mod archive;
pub mod file;
pub mod format;
pub mod merge;
pub mod store;

pub use archive::{Archive, ArchiveSpec, Slot};
pub use file::{load_or_new, save, Loaded};
pub use format::FormatError;
pub use merge::MergeError;
pub use store::{Cf, Rrd, Timeframe, UpdateError};

/// How often a sample is taken (seconds): the step of the finest archive.
pub const SAMPLE_STEP_SECS: u64 = 10;

/// The archives every history keeps: (step in seconds, rows).
pub const ARCHIVES: [ArchiveSpec; 5] = [
    // 10 s × 360 = 1 hour
    ArchiveSpec {
        step_secs: SAMPLE_STEP_SECS,
        rows: 360,
    },
    // 1 min × 1440 = 1 day
    ArchiveSpec {
        step_secs: 60,
        rows: 1440,
    },
    // 30 min × 336 = 1 week
    ArchiveSpec {
        step_secs: 1800,
        rows: 336,
    },
    // 6 h × 124 = 31 days
    ArchiveSpec {
        step_secs: 21_600,
        rows: 124,
    },
    // 1 day × 366 = 1 year
    ArchiveSpec {
        step_secs: 86_400,
        rows: 366,
    },
];
