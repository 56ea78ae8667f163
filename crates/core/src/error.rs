//! Typed errors of the formats and identifiers.

/// A configuration text or identifier that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A line of a configuration file is malformed.
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    /// A whole value is invalid (an identifier, a path, a field).
    #[error("{0}")]
    Invalid(String),
}

impl FormatError {
    pub(crate) fn line(line: usize, message: impl Into<String>) -> Self {
        FormatError::Line {
            line,
            message: message.into(),
        }
    }
}
