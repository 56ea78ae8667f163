//! Proxmox's section-config format, used by storage.cfg, cluster.conf and ha/*.cfg.
//!
//! ```text
//! dir: local
//!     path /var/lib/brigade/images
//!     content images
//! ```

use std::fmt::Write as _;

use crate::key_value::is_valid_key;
use crate::FormatError;

/// One section: `kind: id` then indented `key value` properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub kind: String,
    pub id: String,
    pub props: Vec<(String, String)>,
}

impl Section {
    pub fn new(kind: &str, id: &str) -> Self {
        Section {
            kind: kind.to_string(),
            id: id.to_string(),
            props: Vec::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.props.push((key.to_string(), value.to_string()));
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether `id` is a valid section id.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@' | '!'))
}

/// Parses a section-config document.
pub fn parse(text: &str) -> Result<Vec<Section>, FormatError> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let section = sections
                .last_mut()
                .ok_or_else(|| FormatError::line(n, "property before any section header"))?;
            let body = line.trim();
            let (key, value) = match body.split_once([' ', '\t']) {
                Some((k, v)) => (k, v.trim()),
                None => (body, ""),
            };
            if !is_valid_key(key) {
                return Err(FormatError::line(
                    n,
                    format!("invalid property name {key:?}"),
                ));
            }
            if section.props.iter().any(|(k, _)| k == key) {
                return Err(FormatError::line(
                    n,
                    format!(
                        "duplicate property {key:?} in {}: {}",
                        section.kind, section.id
                    ),
                ));
            }
            section.props.push((key.to_string(), value.to_string()));
        } else {
            let (kind, id) = line.split_once(':').ok_or_else(|| {
                FormatError::line(
                    n,
                    format!("expected a section header 'type: id', found {line:?}"),
                )
            })?;
            let id = id.trim();
            if !is_valid_key(kind) {
                return Err(FormatError::line(
                    n,
                    format!("invalid section type {kind:?}"),
                ));
            }
            if !is_valid_id(id) {
                return Err(FormatError::line(n, format!("invalid section id {id:?}")));
            }
            if sections.iter().any(|s| s.kind == kind && s.id == id) {
                return Err(FormatError::line(
                    n,
                    format!("duplicate section {kind}: {id}"),
                ));
            }
            sections.push(Section::new(kind, id));
        }
    }
    Ok(sections)
}

/// Writes sections in canonical form (blank line between sections).
pub fn write(sections: &[Section]) -> String {
    let mut out = String::new();
    for (i, s) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{}: {}", s.kind, s.id);
        for (k, v) in &s.props {
            if v.is_empty() {
                let _ = writeln!(out, "\t{k}");
            } else {
                let _ = writeln!(out, "\t{k} {v}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_storage_cfg() {
        let text = "dir: local\n\tpath /var/lib/brigade/images\n\tcontent images,rootdir\n\ndir: shared\n\tpath /mnt/shared\n\tshared 1\n\tdisable\n";
        let s = parse(text).expect("parses");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].get("shared"), Some("1"));
        assert_eq!(s[1].get("disable"), Some(""));
        assert_eq!(write(&s), text);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("\tpath /x\n", 1),
            ("dir local\n", 1),
            ("dir: a\n\tpath 1\n\tpath 2\n", 3),
            ("dir: a\ndir: a\n", 2),
            ("dir: a b\n", 1),
        ] {
            match parse(text) {
                Err(FormatError::Line { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    fn arb_section() -> impl Strategy<Value = Section> {
        (
            "[a-z][a-z0-9]{0,6}",
            "[A-Za-z0-9][A-Za-z0-9._-]{0,10}",
            proptest::collection::btree_map(
                "[a-z][a-z0-9_]{0,8}",
                "([!-~]([ -~]{0,20}[!-~])?)?",
                0..6,
            ),
        )
            .prop_map(|(kind, id, props)| Section {
                kind,
                id,
                props: props.into_iter().collect(),
            })
    }

    proptest! {
        #[test]
        fn write_then_parse_is_identity(sections in proptest::collection::vec(arb_section(), 0..6)) {
            let mut unique: Vec<Section> = Vec::new();
            for s in sections {
                if !unique.iter().any(|u| u.kind == s.kind && u.id == s.id) {
                    unique.push(s);
                }
            }
            prop_assert_eq!(parse(&write(&unique)).expect("own output parses"), unique);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }
    }
}
