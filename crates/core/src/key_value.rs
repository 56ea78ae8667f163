//! Proxmox's `key: value` format, used by guest configs and datacenter.cfg.
//!
//! ```text
//! #free text description
//! memory: 256
//! scsi0: shared:vm-100-disk-0,size=1G
//!
//! [snapshot-name]
//! memory: 128
//! ```

use std::fmt::Write as _;

use crate::FormatError;

/// One `key: value` document: description comments, ordered entries and
/// optional named sections (Proxmox uses them for snapshots).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValueConfig {
    /// Leading `#` lines, without the `#`.
    pub description: Vec<String>,
    /// Entries in file order; keys are unique.
    pub entries: Vec<(String, String)>,
    /// Named sections (`[name]`) after the main part, each with its entries.
    pub sections: Vec<(String, Vec<(String, String)>)>,
}

/// Whether `key` is a valid key: a lowercase letter then letters, digits, '_' or '-'.
pub fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && key.len() <= 64
}

/// Whether `value` can be stored on one line and read back identical.
pub fn is_valid_value(value: &str) -> bool {
    !value.is_empty() && value.trim() == value && !value.contains(['\n', '\r'])
}

impl KeyValueConfig {
    /// Parses a document; every malformed line is an error naming its number.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let mut cfg = KeyValueConfig::default();
        let mut in_header = true;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if let Some(comment) = line.strip_prefix('#') {
                if in_header && cfg.entries.is_empty() && cfg.sections.is_empty() {
                    cfg.description.push(comment.to_string());
                }
                continue;
            }
            in_header = false;
            if line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| FormatError::line(n, "section header must end with ']'"))?;
                if !is_valid_key(name) {
                    return Err(FormatError::line(
                        n,
                        format!("invalid section name {name:?}"),
                    ));
                }
                if cfg.sections.iter().any(|(s, _)| s == name) {
                    return Err(FormatError::line(n, format!("duplicate section [{name}]")));
                }
                cfg.sections.push((name.to_string(), Vec::new()));
                continue;
            }
            let (key, value) = line.split_once(':').ok_or_else(|| {
                FormatError::line(n, format!("expected 'key: value', found {line:?}"))
            })?;
            let value = value.trim();
            if !is_valid_key(key) {
                return Err(FormatError::line(n, format!("invalid key {key:?}")));
            }
            if value.is_empty() {
                return Err(FormatError::line(n, format!("key {key:?} has no value")));
            }
            let entries = match cfg.sections.last_mut() {
                Some((_, e)) => e,
                None => &mut cfg.entries,
            };
            if entries.iter().any(|(k, _)| k == key) {
                return Err(FormatError::line(n, format!("duplicate key {key:?}")));
            }
            entries.push((key.to_string(), value.to_string()));
        }
        Ok(cfg)
    }

    /// Writes the document in canonical form.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for d in &self.description {
            let _ = writeln!(out, "#{d}");
        }
        for (k, v) in &self.entries {
            let _ = writeln!(out, "{k}: {v}");
        }
        for (name, entries) in &self.sections {
            let _ = writeln!(out, "\n[{name}]");
            for (k, v) in entries {
                let _ = writeln!(out, "{k}: {v}");
            }
        }
        out
    }

    /// The value of `key` in the main part.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` in the main part, keeping its position when it exists.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), FormatError> {
        if !is_valid_key(key) {
            return Err(FormatError::Invalid(format!("invalid key {key:?}")));
        }
        if !is_valid_value(value) {
            return Err(FormatError::Invalid(format!(
                "invalid value for {key:?}: {value:?}"
            )));
        }
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value.to_string(),
            None => self.entries.push((key.to_string(), value.to_string())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_proxmox_guest_config() {
        let text = "#my vm\n#second line\nboot: order=scsi0\nmemory: 256\nscsi0: shared:vm-100-disk-0,size=1G\n\n[before-upgrade]\nmemory: 128\n";
        let cfg = KeyValueConfig::parse(text).expect("parses");
        assert_eq!(cfg.description, vec!["my vm", "second line"]);
        assert_eq!(cfg.get("memory"), Some("256"));
        assert_eq!(cfg.sections[0].0, "before-upgrade");
        assert_eq!(cfg.to_text(), text);
    }

    #[test]
    fn malformed_lines_name_their_line() {
        let cases = [
            ("memory 256\n", 1, "expected 'key: value'"),
            ("memory: 1\nmemory: 2\n", 2, "duplicate key"),
            ("Memory: 1\n", 1, "invalid key"),
            ("name:\n", 1, "has no value"),
            ("a: 1\n[snap\n", 2, "must end with"),
        ];
        for (text, line, msg) in cases {
            match KeyValueConfig::parse(text) {
                Err(FormatError::Line { line: l, message }) => {
                    assert_eq!(l, line, "{text:?}");
                    assert!(message.contains(msg), "{message}");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    fn arb_entries() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::btree_map("[a-z][a-z0-9_-]{0,10}", "[!-~]([ -~]{0,30}[!-~])?", 0..8)
            .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #[test]
        fn write_then_parse_is_identity(
            description in proptest::collection::vec("[ -~]{0,20}", 0..3),
            entries in arb_entries(),
            sections in proptest::collection::btree_map("[a-z][a-z0-9]{0,8}", arb_entries(), 0..3),
        ) {
            let cfg = KeyValueConfig { description, entries, sections: sections.into_iter().collect() };
            let parsed = KeyValueConfig::parse(&cfg.to_text()).expect("own output parses");
            prop_assert_eq!(parsed, cfg);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,200}") {
            let _ = KeyValueConfig::parse(&text);
        }
    }
}
