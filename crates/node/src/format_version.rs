//! The version of brigade's wire and tree formats: a node joins only a cluster that speaks its own.

/// The format of everything nodes exchange or replicate: API and RPC messages, Raft
/// entries and snapshots, and the files of the tree. A release that changes any of them
/// incompatibly bumps it; a node joins only a cluster whose members speak the same.
pub const FORMAT_VERSION: u32 = 1;

/// The header in which a joining node announces its format version.
pub const FORMAT_HEADER: &str = "x-brigade-format";

/// The format of a joining node that announces none (every release before versioning).
pub const UNANNOUNCED_FORMAT: u32 = 1;

/// Debug builds only: this node announces (and accepts) this format version instead of
/// its own, so that tests can play a node of another release. Release builds ignore it.
pub const DEBUG_OVERRIDE_ENV: &str = "BRIGADE_DEBUG_FORMAT_VERSION";

/// The release this binary is (the version to install to speak its format).
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// A joining node's format differs from this cluster's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatMismatch {
    #[error(
        "the joining node speaks brigade format version {joiner}, but this cluster speaks format version {cluster}: install brigade {release} (format {cluster}) on the joining node{hint}"
    )]
    Differs {
        joiner: u32,
        cluster: u32,
        release: String,
        hint: &'static str,
    },
    #[error("the joining node announced a malformed format version {0:?}")]
    Malformed(String),
}

/// The format version this node speaks (the debug override, else [`FORMAT_VERSION`]).
#[must_use]
pub fn announced() -> u32 {
    #[cfg(debug_assertions)]
    if let Some(v) = std::env::var(DEBUG_OVERRIDE_ENV)
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        return v;
    }
    FORMAT_VERSION
}

/// Whether a cluster speaking `cluster` admits a node that announced `joiner` (the
/// header's value, if any).
///
/// # Errors
/// [`FormatMismatch`] naming both versions and the release to install, or a malformed header.
pub fn check_joiner(joiner: Option<&str>, cluster: u32) -> Result<(), FormatMismatch> {
    let joiner = match joiner {
        None => UNANNOUNCED_FORMAT,
        Some(s) => s
            .trim()
            .parse::<u32>()
            .map_err(|_| FormatMismatch::Malformed(s.to_string()))?,
    };
    if joiner == cluster {
        return Ok(());
    }
    Err(FormatMismatch::Differs {
        joiner,
        cluster,
        release: RELEASE.to_string(),
        hint: if joiner > cluster {
            ", or first upgrade every member of the cluster, one node at a time (see \"Upgrades\" in the README)"
        } else {
            ""
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_format_joins_and_others_are_told_what_to_install() {
        assert_eq!(check_joiner(Some("1"), 1), Ok(()));
        assert_eq!(check_joiner(None, UNANNOUNCED_FORMAT), Ok(()));
        let older = check_joiner(Some("1"), 2)
            .expect_err("older refused")
            .to_string();
        assert!(older.contains("format version 1"), "{older}");
        assert!(
            older.contains(&format!("install brigade {RELEASE} (format 2)")),
            "{older}"
        );
        assert!(!older.contains("upgrade every member"), "{older}");
        let newer = check_joiner(Some("3"), 2)
            .expect_err("newer refused")
            .to_string();
        assert!(newer.contains("upgrade every member"), "{newer}");
        assert!(matches!(
            check_joiner(Some("x"), 1),
            Err(FormatMismatch::Malformed(_))
        ));
    }
}
