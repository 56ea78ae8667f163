//! Host memory available for guests (`MemAvailable` of /proc/meminfo).

use crate::error::{GuestError, Result};

/// `MemAvailable` in MiB.
pub fn available_mib() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/meminfo")
        .map_err(GuestError::io("cannot read /proc/meminfo"))?;
    parse_available_mib(&text)
        .ok_or_else(|| GuestError::Failed("/proc/meminfo has no MemAvailable line".into()))
}

fn parse_available_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        assert_eq!(
            parse_available_mib("MemTotal: 100 kB\nMemAvailable:    2097152 kB\n"),
            Some(2048)
        );
        assert_eq!(parse_available_mib("MemTotal: 1 kB\n"), None);
        assert!(available_mib().expect("linux") > 0);
    }
}
