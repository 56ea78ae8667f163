//! Validated paths inside the replicated file tree (no `..`, no empty parts).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::FormatError;

/// Longest path accepted in the tree, in bytes.
pub const PATH_MAX: usize = 1024;
/// Longest single path component, in bytes.
pub const NAME_MAX: usize = 255;

/// A normalized path in the cfs tree: components joined by '/', no leading
/// slash; the empty path is the root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CfsPath(String);

impl CfsPath {
    /// The root directory.
    pub fn root() -> Self {
        CfsPath(String::new())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The parent directory; the root is its own parent.
    pub fn parent(&self) -> CfsPath {
        match self.0.rfind('/') {
            Some(i) => CfsPath(self.0[..i].to_string()),
            None => CfsPath::root(),
        }
    }

    /// The last component ("" for the root).
    pub fn name(&self) -> &str {
        match self.0.rfind('/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// Appends one component, validated.
    pub fn join(&self, name: &str) -> Result<CfsPath, FormatError> {
        if self.is_root() {
            name.parse()
        } else {
            format!("{}/{}", self.0, name).parse()
        }
    }

    /// Whether `self` equals `prefix` or lies below it.
    pub fn starts_with(&self, prefix: &CfsPath) -> bool {
        prefix.is_root()
            || self.0 == prefix.0
            || (self.0.starts_with(&prefix.0)
                && self.0.as_bytes().get(prefix.0.len()) == Some(&b'/'))
    }

    /// Whether this path is in the root-only `priv/` directory.
    pub fn is_private(&self) -> bool {
        self.starts_with(&CfsPath("priv".to_string()))
    }
}

impl FromStr for CfsPath {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim_matches('/');
        if trimmed.len() > PATH_MAX {
            return Err(FormatError::Invalid(format!(
                "path longer than {PATH_MAX} bytes"
            )));
        }
        if trimmed.is_empty() {
            return Ok(CfsPath::root());
        }
        for part in trimmed.split('/') {
            let ok_chars = part.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '+' | '@' | '~')
            });
            if part.is_empty() || part == "." || part == ".." || part.len() > NAME_MAX || !ok_chars
            {
                return Err(FormatError::Invalid(format!(
                    "invalid path {s:?}: component {part:?} is empty, '.', '..', too long or has characters other than letters, digits and ._-:+@~"
                )));
            }
        }
        Ok(CfsPath(trimmed.to_string()))
    }
}

impl TryFrom<String> for CfsPath {
    type Error = FormatError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CfsPath> for String {
    fn from(p: CfsPath) -> String {
        p.0
    }
}

impl fmt::Display for CfsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> CfsPath {
        s.parse().expect("valid path")
    }

    #[test]
    fn normalizes_and_rejects() {
        assert_eq!(p("/nodes/n1/").as_str(), "nodes/n1");
        assert!(p("/").is_root());
        for bad in ["a/../b", "a//b", "a/./b", "a b", "a/\u{e9}"] {
            assert!(bad.parse::<CfsPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parents_and_prefixes() {
        assert_eq!(p("a/b/c").parent(), p("a/b"));
        assert_eq!(p("a").parent(), CfsPath::root());
        assert_eq!(p("a/b/c").name(), "c");
        assert!(p("nodes/n1/x").starts_with(&p("nodes/n1")));
        assert!(!p("nodes/n10").starts_with(&p("nodes/n1")));
        assert!(p("priv/tokens.cfg").is_private());
        assert!(!p("private").is_private());
    }
}
