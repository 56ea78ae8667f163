//! Proxmox section-config text: `type: id` headers at column 0, indented `key value` lines.

use crate::error::{Result, SdnError};

/// One property line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    pub key: String,
    pub value: String,
    /// 1-based line number in the file (0 for sections built in memory).
    pub line: usize,
}

/// One section: `kind: id` and its properties in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub kind: String,
    pub id: String,
    pub line: usize,
    pub props: Vec<Prop>,
}

impl Section {
    /// A section built in memory (line numbers 0).
    pub fn new(kind: &str, id: &str) -> Section {
        Section {
            kind: kind.to_string(),
            id: id.to_string(),
            line: 0,
            props: Vec::new(),
        }
    }

    /// Appends a property.
    pub fn push(&mut self, key: &str, value: impl ToString) {
        self.props.push(Prop {
            key: key.to_string(),
            value: value.to_string(),
            line: 0,
        });
    }
}

fn parse_error(file: &str, line: usize, message: impl Into<String>) -> SdnError {
    SdnError::Parse {
        file: file.to_string(),
        line,
        message: message.into(),
    }
}

/// Parses a section-config file; `file` names it in errors. Duplicate ids are refused.
pub fn parse(file: &str, text: &str) -> Result<Vec<Section>> {
    let mut sections: Vec<Section> = Vec::new();
    let mut in_section = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed.is_empty() {
            in_section = false;
            continue;
        }
        let indented = raw.starts_with(|c: char| c.is_whitespace());
        if !indented {
            let Some((kind, id)) = trimmed.split_once(':') else {
                return Err(parse_error(
                    file,
                    line,
                    format!("expected `type: id`, found {trimmed:?}"),
                ));
            };
            let (kind, id) = (kind.trim(), id.trim());
            if kind.is_empty() || id.is_empty() || id.contains(char::is_whitespace) {
                return Err(parse_error(
                    file,
                    line,
                    format!("expected `type: id`, found {trimmed:?}"),
                ));
            }
            if let Some(first) = sections.iter().find(|s| s.id == id) {
                return Err(parse_error(
                    file,
                    line,
                    format!("{id} is defined twice (first on line {})", first.line),
                ));
            }
            sections.push(Section {
                kind: kind.to_string(),
                id: id.to_string(),
                line,
                props: Vec::new(),
            });
            in_section = true;
            continue;
        }
        let Some(section) = sections.last_mut().filter(|_| in_section) else {
            return Err(parse_error(
                file,
                line,
                "a property line outside of a section",
            ));
        };
        let (key, value) = trimmed
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .unwrap_or((trimmed, ""));
        section.props.push(Prop {
            key: key.to_string(),
            value: value.to_string(),
            line,
        });
    }
    Ok(sections)
}

/// Writes sections back as text (tab-indented properties, a blank line between sections).
pub fn write(sections: &[Section]) -> String {
    let mut out = String::new();
    for section in sections {
        out.push_str(&format!("{}: {}\n", section.kind, section.id));
        for prop in &section.props {
            out.push_str(&format!("\t{} {}\n", prop.key, prop.value));
        }
        out.push('\n');
    }
    out
}

/// Fails with a line-numbered error unless every key of `section` is in `known`
/// and no key other than those in `repeatable` appears twice.
pub fn check_keys(
    file: &str,
    section: &Section,
    known: &[&str],
    repeatable: &[&str],
) -> Result<()> {
    for (i, prop) in section.props.iter().enumerate() {
        if !known.contains(&prop.key.as_str()) {
            return Err(parse_error(
                file,
                prop.line,
                format!(
                    "{}: unknown property {:?} (known: {})",
                    section.id,
                    prop.key,
                    known.join(", ")
                ),
            ));
        }
        if !repeatable.contains(&prop.key.as_str())
            && section.props[..i].iter().any(|p| p.key == prop.key)
        {
            return Err(parse_error(
                file,
                prop.line,
                format!("{}: {} given twice", section.id, prop.key),
            ));
        }
    }
    Ok(())
}

/// The value of `key` in `section`, with its line.
pub fn get<'a>(section: &'a Section, key: &str) -> Option<&'a Prop> {
    section.props.iter().find(|p| p.key == key)
}

/// Parses a `0`/`1` flag.
pub fn parse_bool(file: &str, prop: &Prop) -> Result<bool> {
    match prop.value.as_str() {
        "1" => Ok(true),
        "0" => Ok(false),
        other => Err(parse_error(
            file,
            prop.line,
            format!("{}: expected 0 or 1, found {other:?}", prop.key),
        )),
    }
}

/// Parses a number of type `T` from a property.
pub fn parse_num<T: std::str::FromStr>(file: &str, prop: &Prop) -> Result<T> {
    prop.value.parse().map_err(|_| {
        parse_error(
            file,
            prop.line,
            format!("{}: not a number: {:?}", prop.key, prop.value),
        )
    })
}

/// An error on the line of `prop`.
pub fn prop_error(file: &str, prop: &Prop, message: impl Into<String>) -> SdnError {
    parse_error(file, prop.line, message)
}

/// An error on the header line of `section`.
pub fn section_error(file: &str, section: &Section, message: impl Into<String>) -> SdnError {
    parse_error(file, section.line, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_with_line_numbers() {
        let text = "# c\nvxlan: z1\n\tpeers 10.0.0.1,10.0.0.2\n\tmtu 1450\n\nsimple: z2\n";
        let s = parse("zones.cfg", text).expect("parse");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].kind, "vxlan");
        assert_eq!(s[0].props[1].line, 4);
        assert_eq!(parse("zones.cfg", &write(&s)).expect("reparse")[1].id, "z2");
    }

    #[test]
    fn refuses_orphans_and_duplicates() {
        let e = parse("f", "\tmtu 1\n").expect_err("orphan");
        assert!(e.to_string().contains("f line 1"), "{e}");
        let e = parse("f", "simple: a\n\nsimple: a\n").expect_err("dup");
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("twice"),
            "{e}"
        );
        let e = parse("f", "simple a\n").expect_err("header");
        assert!(e.to_string().contains("type: id"), "{e}");
    }
}
