//! The versions of brigade's wire and tree formats: which this binary speaks, which the
//! cluster runs, and the checks between them (at join, at start, between running members).

mod decide;
mod peers;
mod record;

pub use decide::{
    check_joiner, check_start, highest_common, joiner_range, mixed_versions, next_format,
    release_for, unannounced_members, FormatMismatch, FormatRange, RaiseRefused, StartRefused,
};
pub use peers::{
    format_warnings, FormatTable, FORMAT_PROBE_INTERVAL, FORMAT_PROBE_TIMEOUT, FORMAT_ROUTE,
};
pub(crate) use record::check_format_at_start;
pub use record::{ACTIVE_FORMAT_RECORD, ACTIVE_FORMAT_TREE_PATH};

/// The newest format of everything nodes exchange or replicate (API and RPC messages,
/// Raft entries and snapshots, the files of the tree) that this release speaks. A
/// release that changes any of them incompatibly bumps it, and keeps speaking the
/// previous one ([`OLDEST_FORMAT`]) for a rolling upgrade.
pub const FORMAT_VERSION: u32 = 1;

/// The oldest format this release still speaks.
pub const OLDEST_FORMAT: u32 = 1;

/// The formats this release speaks.
pub const SUPPORTED: FormatRange = FormatRange {
    min: OLDEST_FORMAT,
    max: FORMAT_VERSION,
};

/// The first release that speaks each format (a release adds its line when it bumps
/// [`FORMAT_VERSION`]); it names the release to install in refusals.
pub const FORMAT_RELEASES: &[(u32, &str)] = &[(1, "0.1.0")];

/// The header in which a joining node announces the oldest format it speaks (releases
/// before format ranges compare it to their single format).
pub const FORMAT_HEADER: &str = "x-brigade-format";

/// The header in which a node announces every format it speaks (`MIN-MAX`), when
/// joining and when forwarding a request to another node.
pub const FORMATS_HEADER: &str = "x-brigade-formats";

/// The format of a node that announces none (every release before versioning).
pub const UNANNOUNCED_FORMAT: u32 = 1;

/// Debug builds only: this node speaks these formats (`N` or `MIN-MAX`) instead of
/// [`SUPPORTED`], so that tests can play a node of another release. Release builds ignore it.
pub const DEBUG_OVERRIDE_ENV: &str = "BRIGADE_DEBUG_FORMAT_VERSION";

/// Debug builds only: this node calls itself this release instead of [`RELEASE`].
pub const DEBUG_RELEASE_ENV: &str = "BRIGADE_DEBUG_RELEASE";

/// The release this binary is (the version to install to speak its formats).
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// The formats this node speaks (the debug override, else [`SUPPORTED`]).
#[must_use]
pub fn supported() -> FormatRange {
    #[cfg(debug_assertions)]
    if let Some(r) = std::env::var(DEBUG_OVERRIDE_ENV)
        .ok()
        .and_then(|v| FormatRange::parse(&v).ok())
    {
        return r;
    }
    SUPPORTED
}

/// The release this node announces (the debug override, else [`RELEASE`]).
#[must_use]
pub fn release() -> String {
    #[cfg(debug_assertions)]
    if let Ok(r) = std::env::var(DEBUG_RELEASE_ENV) {
        if !r.trim().is_empty() {
            return r.trim().to_string();
        }
    }
    RELEASE.to_string()
}

/// The single format a joining node announces in [`FORMAT_HEADER`]: its oldest, which
/// is what a cluster of a release before format ranges runs if it admits it at all.
#[must_use]
pub fn announced() -> u32 {
    supported().min
}

/// The refusal of a guest request forwarded by a build from before sealed caller
/// identities and format announcements (it would otherwise read "missing identity").
#[must_use]
pub fn unsealed_forward() -> String {
    format!(
        "refused a guest request forwarded without the caller's sealed identity or a format announcement: the forwarding node runs a brigade build older than this node's ({}), whose requests cannot be checked for permissions here; upgrade it to brigade {RELEASE} (see \"Upgrades\" in the README)",
        release()
    )
}
