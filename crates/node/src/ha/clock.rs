//! The clock every HA lease deadline is counted on: CLOCK_BOOTTIME, which keeps
//! counting while the host is suspended (CLOCK_MONOTONIC, behind `Instant`, stops,
//! so a resumed node would believe its lease still valid). It is shared by every
//! process of the machine, so the daemon hands the watchdog helper absolute deadlines.

use nix::time::{clock_gettime, ClockId};

/// Milliseconds of CLOCK_BOOTTIME.
pub fn boot_ms() -> u64 {
    match clock_gettime(ClockId::CLOCK_BOOTTIME) {
        Ok(ts) => (ts.tv_sec() as u64)
            .saturating_mul(1000)
            .saturating_add(ts.tv_nsec() as u64 / 1_000_000),
        // Linux has had CLOCK_BOOTTIME since 2.6.39; without it, a far-future "now"
        // makes every lease look lapsed (the safe direction) rather than valid.
        Err(_) => u64::MAX / 2,
    }
}

/// A monotonic instant expressed on the boot clock (for times openraft gives as `Instant`).
pub fn boot_ms_of(t: std::time::Instant) -> u64 {
    boot_ms().saturating_sub(t.elapsed().as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_clock_moves_forward_with_monotonic_time() {
        let a = boot_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = boot_ms();
        assert!(b >= a + 20 && b < a + 5000, "{a} -> {b}");
        let then = std::time::Instant::now();
        assert!(boot_ms_of(then).abs_diff(boot_ms()) < 100);
    }
}
