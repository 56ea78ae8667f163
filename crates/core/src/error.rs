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

/// An error's message followed by those of its causes it does not already say, for
/// answers that cross the network as text (the API's error body, an RPC error frame).
pub fn message_with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the store")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_follow_the_message_once() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(message_with_causes(&e), "cannot open the store: disk full");
        let said = FormatError::Invalid("bad".into());
        assert_eq!(message_with_causes(&said), "bad");
    }
}
