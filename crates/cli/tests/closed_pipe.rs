//! The binary writing into a pipe whose reader has gone (`brigade ... | head` after
//! head exited): it ends quietly with status 0 instead of panicking with 101.

use std::process::{Command, Stdio};

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../ha/scenarios/07-failback");
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_brigade"))
        .args(["ha", "simulate", scenario])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run brigade");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "panicked: {stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}
