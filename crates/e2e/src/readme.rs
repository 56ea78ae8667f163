//! The README's command blocks, so a test can prove it ran every command a section
//! shows: a command added to the README without a test fails [`Coverage::assert_complete`].

use std::collections::BTreeSet;
use std::path::PathBuf;

/// README.md at the top of the workspace.
pub fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

/// A command line without its trailing `# comment`.
pub fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'#' if !quoted && (i == 0 || bytes[i - 1] == b' ') => return line[..i].trim_end(),
            _ => {}
        }
    }
    line.trim_end()
}

/// The command lines of the ```sh blocks of the README section `heading` (`## heading`),
/// comments removed, in order.
pub fn commands_in(heading: &str) -> Vec<String> {
    let text = std::fs::read_to_string(readme_path()).expect("README.md");
    let mut out = Vec::new();
    let mut in_section = false;
    let mut in_block = false;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            in_section = h.trim() == heading;
            continue;
        }
        if !in_section {
            continue;
        }
        if line.trim_start().starts_with("```") {
            in_block = !in_block && line.trim() == "```sh";
            continue;
        }
        if in_block {
            let cmd = strip_comment(line).trim();
            if !cmd.is_empty() {
                out.push(cmd.to_string());
            }
        }
    }
    assert!(
        !out.is_empty(),
        "no ```sh commands under '## {heading}' in README.md"
    );
    out
}

/// Which command lines of a README section a test has run.
pub struct Coverage {
    heading: String,
    lines: Vec<String>,
    ran: BTreeSet<String>,
}

impl Coverage {
    pub fn new(heading: &str) -> Self {
        Coverage {
            heading: heading.to_string(),
            lines: commands_in(heading),
            ran: BTreeSet::new(),
        }
    }

    /// The section's command lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Records that the test ran (its concrete form of) README line `line`.
    pub fn ran(&mut self, line: &str) {
        assert!(
            self.lines.iter().any(|l| l == line),
            "not a command line of '## {}' in README.md: {line:?}",
            self.heading
        );
        self.ran.insert(line.to_string());
    }

    /// Fails unless every command line of the section was run.
    pub fn assert_complete(&self) {
        let missing: Vec<&String> = self
            .lines
            .iter()
            .filter(|l| !self.ran.contains(*l))
            .collect();
        assert!(
            missing.is_empty(),
            "README '## {}' commands no test ran: {missing:#?}",
            self.heading
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_stripped_outside_quotes() {
        assert_eq!(
            strip_comment("brigade lab kill n1   # a power cut"),
            "brigade lab kill n1"
        );
        assert_eq!(strip_comment("# just a comment"), "");
        assert_eq!(strip_comment("echo \"a # b\" # c"), "echo \"a # b\"");
        assert_eq!(strip_comment("brigade x#y"), "brigade x#y");
    }

    #[test]
    fn the_readme_sections_have_commands() {
        for h in [
            "A tour of the lab",
            "On real machines",
            "High availability",
            "Guests",
        ] {
            assert!(!commands_in(h).is_empty(), "{h}");
        }
    }
}
