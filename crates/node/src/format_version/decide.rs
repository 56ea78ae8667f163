//! The pure decisions about formats: ranges, who may join, who may start, when the
//! cluster's active format may rise, and the warning for a cluster of mixed releases.

use std::collections::BTreeMap;
use std::fmt;

use super::{FORMAT_RELEASES, RELEASE};

/// The formats a node speaks: every version from `min` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatRange {
    pub min: u32,
    pub max: u32,
}

impl FormatRange {
    /// Exactly one format.
    #[must_use]
    pub const fn single(v: u32) -> Self {
        FormatRange { min: v, max: v }
    }

    /// Whether it speaks `v`.
    #[must_use]
    pub fn contains(self, v: u32) -> bool {
        self.min <= v && v <= self.max
    }

    /// The formats both speak, if any.
    #[must_use]
    pub fn intersect(self, other: FormatRange) -> Option<FormatRange> {
        let r = FormatRange {
            min: self.min.max(other.min),
            max: self.max.min(other.max),
        };
        (r.min <= r.max).then_some(r)
    }

    /// `N` or `MIN-MAX` (as in [`super::FORMATS_HEADER`]).
    ///
    /// # Errors
    /// [`FormatMismatch::Malformed`] for anything else, or MIN over MAX.
    pub fn parse(s: &str) -> Result<Self, FormatMismatch> {
        let bad = || FormatMismatch::Malformed(s.to_string());
        let num = |p: &str| p.trim().parse::<u32>().map_err(|_| bad());
        let r = match s.split_once('-') {
            Some((a, b)) => FormatRange {
                min: num(a)?,
                max: num(b)?,
            },
            None => FormatRange::single(num(s)?),
        };
        if r.min > r.max {
            return Err(bad());
        }
        Ok(r)
    }

    /// The header form, `MIN-MAX`.
    #[must_use]
    pub fn header(self) -> String {
        format!("{}-{}", self.min, self.max)
    }
}

impl fmt::Display for FormatRange {
    /// `1` or `1 to 2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{} to {}", self.min, self.max)
        }
    }
}

/// A joining node's formats do not include this cluster's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatMismatch {
    #[error(
        "the joining node speaks brigade format version {joiner}, but this cluster speaks format version {cluster}: install brigade {release} (format {cluster}) on the joining node{hint}"
    )]
    Differs {
        joiner: FormatRange,
        cluster: u32,
        release: String,
        hint: &'static str,
    },
    #[error("the joining node announced a malformed format version {0:?}")]
    Malformed(String),
}

/// The formats a joining node announced: its range header, else its single format,
/// else [`super::UNANNOUNCED_FORMAT`].
///
/// # Errors
/// [`FormatMismatch::Malformed`] for a header that is not a format or range.
pub fn joiner_range(
    single: Option<&str>,
    range: Option<&str>,
) -> Result<FormatRange, FormatMismatch> {
    match (range, single) {
        (Some(r), _) => FormatRange::parse(r),
        (None, Some(s)) => s
            .trim()
            .parse::<u32>()
            .map(FormatRange::single)
            .map_err(|_| FormatMismatch::Malformed(s.to_string())),
        (None, None) => Ok(FormatRange::single(super::UNANNOUNCED_FORMAT)),
    }
}

/// Whether a cluster running format `cluster` admits a node speaking `joiner`.
///
/// # Errors
/// [`FormatMismatch::Differs`] naming both and the release to install.
pub fn check_joiner(joiner: FormatRange, cluster: u32) -> Result<(), FormatMismatch> {
    if joiner.contains(cluster) {
        return Ok(());
    }
    Err(FormatMismatch::Differs {
        joiner,
        cluster,
        release: RELEASE.to_string(),
        hint: if joiner.min > cluster {
            ", or first upgrade every member of the cluster, one node at a time (see \"Upgrades\" in the README)"
        } else {
            ""
        },
    })
}

/// The release to install to speak format `v`, as a phrase.
#[must_use]
pub fn release_for(v: u32) -> String {
    match FORMAT_RELEASES.iter().find(|(f, _)| *f == v) {
        Some((_, r)) => format!("brigade {r} or a later release that speaks format {v}"),
        None if FORMAT_RELEASES.iter().all(|(f, _)| *f < v) => {
            format!("a newer brigade release, one that speaks format {v}")
        }
        None => format!("a brigade release that speaks format {v}"),
    }
}

/// A node whose formats do not include its cluster's active one does not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "node {node} does not take part in its cluster: this brigade {release} speaks format version {speaks}, but the cluster runs format version {active}. Install {install} on {node} and start it again{outcome}"
)]
pub struct StartRefused {
    pub node: String,
    pub release: String,
    pub speaks: FormatRange,
    pub active: u32,
    pub install: String,
    /// `; nothing was changed` at start, `; it stopped` when it was running.
    pub outcome: &'static str,
}

/// The outcome of a refusal at start.
pub const REFUSED_AT_START: &str = "; nothing was changed";
/// The outcome of a refusal of a running node.
pub const STOPPED_RUNNING: &str = "; it stopped";

/// Whether node `node`, speaking `own` as release `release`, may take part in a
/// cluster whose active format is `active`.
///
/// # Errors
/// [`StartRefused`] with the release to install.
pub fn check_start(
    node: &str,
    release: &str,
    own: FormatRange,
    active: u32,
) -> Result<(), StartRefused> {
    if own.contains(active) {
        return Ok(());
    }
    Err(StartRefused {
        node: node.to_string(),
        release: release.to_string(),
        speaks: own,
        active,
        install: release_for(active),
        outcome: REFUSED_AT_START,
    })
}

/// Why the cluster's active format is not raised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RaiseRefused {
    #[error(
        "cannot raise the cluster format: {0} did not answer, and a member's formats must be known (start it, or remove it with 'brigade cluster delnode')"
    )]
    Unknown(String),
    #[error(
        "the cluster already runs format version {active}, the highest that every member speaks{limit}"
    )]
    AlreadyHighest { active: u32, limit: String },
    #[error(
        "the members speak no common format that includes the active format version {active} ({detail}): finish the rolling upgrade first"
    )]
    NoCommon { active: u32, detail: String },
}

/// The formats every member speaks, if every member is known and they share one.
#[must_use]
pub fn highest_common(members: &[(String, Option<FormatRange>)]) -> Option<FormatRange> {
    let mut common: Option<FormatRange> = None;
    for (_, r) in members {
        let r = (*r)?;
        common = Some(match common {
            None => r,
            Some(c) => c.intersect(r)?,
        });
    }
    common
}

/// The format the active one may rise to: the highest that every member speaks, which
/// requires every member's formats to be known and to include the active one.
///
/// # Errors
/// [`RaiseRefused`] saying which member holds it back.
pub fn next_format(
    active: u32,
    members: &[(String, Option<FormatRange>)],
) -> Result<u32, RaiseRefused> {
    if let Some((name, _)) = members.iter().find(|(_, r)| r.is_none()) {
        return Err(RaiseRefused::Unknown(name.clone()));
    }
    let detail = || {
        members
            .iter()
            .filter_map(|(n, r)| r.map(|r| format!("{n} speaks {r}")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let common = highest_common(members)
        .filter(|c| c.contains(active))
        .ok_or_else(|| RaiseRefused::NoCommon {
            active,
            detail: detail(),
        })?;
    if common.max > active {
        return Ok(common.max);
    }
    let limiting: Vec<&str> = members
        .iter()
        .filter(|(_, r)| r.is_some_and(|r| r.max == active))
        .map(|(n, _)| n.as_str())
        .collect();
    let limit = if limiting.len() == members.len() {
        String::new()
    } else {
        format!(
            " ({} {} no newer format: upgrade {} first)",
            limiting.join(", "),
            if limiting.len() == 1 {
                "speaks"
            } else {
                "speak"
            },
            if limiting.len() == 1 { "it" } else { "them" }
        )
    };
    Err(RaiseRefused::AlreadyHighest { active, limit })
}

/// The warning of a cluster whose members run different releases: the biggest group
/// (on a tie, the last release in version order) is "the others".
#[must_use]
pub fn mixed_versions(members: &[(String, String)]) -> Option<String> {
    let mut by_release: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, release) in members {
        by_release
            .entry(release.as_str())
            .or_default()
            .push(name.as_str());
    }
    if by_release.len() < 2 {
        return None;
    }
    let key = |r: &str| -> Vec<u64> { r.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    let (&majority, _) = by_release
        .iter()
        .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(key(a.0).cmp(&key(b.0))))?;
    let rest: Vec<String> = by_release
        .iter()
        .filter(|(r, _)| **r != majority)
        .map(|(r, names)| format!("{} {} {r}", names.join(", "), verb(names.len())))
        .collect();
    Some(format!(
        "mixed versions: {}, the others {majority} — finish the rolling upgrade",
        rest.join("; ")
    ))
}

fn verb(n: usize) -> &'static str {
    if n == 1 {
        "runs"
    } else {
        "run"
    }
}

/// The warning for members that announce no format (builds from before format
/// announcements, taken to speak format 1 only).
#[must_use]
pub fn unannounced_members(names: &[String]) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    Some(format!(
        "{} {} a brigade build older than format announcements (taken to speak format 1 only): upgrade {} to brigade {RELEASE}",
        names.join(", "),
        verb(names.len()),
        if names.len() == 1 { "it" } else { "them" }
    ))
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
