//! Faults injected at named steps, so tests can reproduce a schedule exactly (debug
//! builds only; a release build never reads the file): `STATE_DIR/faults` holds lines
//! `STEP ACTION`, where ACTION is `pause MS`, `fail` or `unknown` (the step's outcome
//! is reported as unknown although it happened). Each line fires once and is removed.

use std::path::Path;
use std::time::Duration;

/// The faults file in a node's state directory.
pub const FAULTS_FILE: &str = "faults";

/// What to do at a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pause(Duration),
    Fail,
    Unknown,
}

fn parse(action: &str) -> Option<Fault> {
    let mut w = action.split_whitespace();
    match w.next()? {
        "pause" => Some(Fault::Pause(Duration::from_millis(w.next()?.parse().ok()?))),
        "fail" => Some(Fault::Fail),
        "unknown" => Some(Fault::Unknown),
        _ => None,
    }
}

/// The fault set for `step`, if any (consumed).
pub fn at(state_dir: &Path, step: &str) -> Option<Fault> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let path = state_dir.join(FAULTS_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let mut found = None;
    let mut rest = String::new();
    for line in text.lines() {
        match line.split_once(' ') {
            Some((s, action)) if s == step && found.is_none() => found = parse(action),
            _ => {
                rest.push_str(line);
                rest.push('\n');
            }
        }
    }
    if found.is_some() {
        let _ = std::fs::write(&path, rest);
        tracing::warn!(step, ?found, "injected fault");
    }
    found
}

/// Sleeps if a pause is set for `step`; returns any other fault.
pub async fn pause_or(state_dir: &Path, step: &str) -> Option<Fault> {
    match at(state_dir, step) {
        Some(Fault::Pause(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_fires_once() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            d.path().join(FAULTS_FILE),
            "a pause 20\nb unknown\nb fail\nc bogus\n",
        )
        .expect("write");
        assert_eq!(
            at(d.path(), "a"),
            Some(Fault::Pause(Duration::from_millis(20)))
        );
        assert_eq!(at(d.path(), "a"), None);
        assert_eq!(at(d.path(), "b"), Some(Fault::Unknown));
        assert_eq!(at(d.path(), "b"), Some(Fault::Fail));
        assert_eq!(at(d.path(), "c"), None);
        assert_eq!(at(d.path(), "missing"), None);
    }
}
