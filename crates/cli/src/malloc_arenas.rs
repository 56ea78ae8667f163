//! The node and qdevice daemons run with few glibc malloc arenas: re-executed once at start with `MALLOC_ARENA_MAX` set.
//!
//! glibc gives each thread that allocates while another holds an arena a new arena, up
//! to eight per core, and each keeps the pages it once held; a daemon with two async
//! workers and a small blocking pool ends up with several mostly idle arenas. glibc
//! reads the limit only when the process starts, so the daemon sets it and executes
//! itself again (same pid, same arguments). The re-executed daemon then restores the
//! environment it was given, so that what it starts (QEMU, LXC, tools) gets glibc's
//! defaults or the operator's setting, not the daemon's.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;

/// glibc's variable for the number of malloc arenas.
const ARENA_VAR: &str = "MALLOC_ARENA_MAX";
/// Arenas a daemon may use: the main one and one more for the threads that allocate
/// at the same time as another (two async workers, the log and state writers).
pub const DAEMON_MALLOC_ARENAS: &str = "2";
/// Set on the re-executed daemon, which was started without `MALLOC_ARENA_MAX`.
const REEXECUTED_VAR: &str = "BRIGADE_MALLOC_ARENAS_SET";

/// Call first in a daemon, before any thread starts. Re-executes this binary with
/// [`DAEMON_MALLOC_ARENAS`] unless the operator set `MALLOC_ARENA_MAX` or this is the
/// re-executed process already (which puts back the environment it was given). When
/// the binary cannot be executed again (it was replaced or removed meanwhile) the
/// daemon runs on with glibc's default.
pub fn reexec_with_few_arenas() {
    if std::env::var_os(REEXECUTED_VAR).is_some() {
        // Single-threaded still: changing the environment races with nothing. malloc
        // has read its limit; children get the environment the daemon was given.
        std::env::remove_var(REEXECUTED_VAR);
        std::env::remove_var(ARENA_VAR);
        return;
    }
    if std::env::var_os(ARENA_VAR).is_some() {
        return; // the operator's choice holds
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let err = std::process::Command::new(&exe)
        .args(args)
        .env(ARENA_VAR, DAEMON_MALLOC_ARENAS)
        .env(REEXECUTED_VAR, "1")
        .exec();
    eprintln!(
        "warning: cannot execute {} again with {ARENA_VAR}={DAEMON_MALLOC_ARENAS} (running with glibc's malloc arenas): {err}",
        exe.display()
    );
}
