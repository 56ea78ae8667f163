//! The watchdog helper as a real process with a watchdog device (a plain file stands in
//! for /dev/watchdog, which this machine lacks): it writes keepalives while the lease's
//! deadline is further away than the device's timeout, stops so the device would fire
//! by the deadline, and closes it with the magic 'V' when disarmed.

use std::time::Duration;

use brigade_e2e::{bin, eventually, holds_for};
use brigade_node::ha::clock::boot_ms;
use brigade_node::ha::watchdog::Feed;

/// The device's timeout given to the helper (`--device-timeout 2`).
const DEVICE_TIMEOUT_MS: u64 = 2000;
/// How long the device must stay quiet once deadline - timeout passed: past the deadline.
const QUIET: Duration = Duration::from_millis(DEVICE_TIMEOUT_MS + 500);

#[tokio::test(flavor = "multi_thread")]
async fn the_helper_feeds_a_device_until_the_deadline_minus_its_timeout() {
    let dir = brigade_e2e::test_dir("watchdog-device");
    let run = dir.join("run");
    std::fs::create_dir_all(&run).expect("run dir");
    let device = dir.join("watchdog");
    std::fs::write(&device, b"").expect("device");
    let feed = run.join("watchdog.lease");
    // Deadline 4 s away, device timeout 2 s: keepalives for about 2 s, then none.
    let deadline = boot_ms() + 4000;
    std::fs::write(
        &feed,
        Feed::Armed {
            seq: 1,
            deadline_ms: deadline,
        }
        .to_line(),
    )
    .expect("feed");
    let mut helper = std::process::Command::new(bin())
        .args(["node", "watchdog", "--run-dir"])
        .arg(&run)
        .arg("--device")
        .arg(&device)
        .args(["--device-timeout", "2"])
        .spawn()
        .expect("start the helper");
    let size = || std::fs::metadata(&device).map(|m| m.len()).unwrap_or(0);
    eventually(Duration::from_secs(5), "a first keepalive", || async {
        size() > 0
    })
    .await;
    // Past deadline - timeout, the device gets nothing more.
    let last_keepalive = deadline - DEVICE_TIMEOUT_MS + 100;
    eventually(
        Duration::from_secs(5),
        "deadline - timeout has passed",
        || async { boot_ms() >= last_keepalive },
    )
    .await;
    let fed = size();
    assert!(fed >= 2, "about one keepalive a second: {fed}");
    // Quiet until (and past) the deadline, when the device would fire.
    holds_for(QUIET, "no keepalive after deadline - timeout", || async {
        size() == fed
    })
    .await;
    assert_eq!(size(), fed, "keepalives after deadline - timeout");
    // A later deadline: alive again; then disarmed: the magic close.
    std::fs::write(
        &feed,
        Feed::Armed {
            seq: 2,
            deadline_ms: boot_ms() + 10_000,
        }
        .to_line(),
    )
    .expect("feed");
    eventually(Duration::from_secs(5), "keepalives resume", || async {
        size() > fed
    })
    .await;
    std::fs::write(&feed, Feed::Disarmed { seq: 3 }.to_line()).expect("feed");
    eventually(Duration::from_secs(5), "the magic close", || async {
        std::fs::read(&device).is_ok_and(|b| b.last() == Some(&b'V'))
    })
    .await;
    let _ = helper.kill();
    let _ = helper.wait();
}
