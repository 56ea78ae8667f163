//! `console --follow/--tail`: what a guest printed, read through the API (any node).

use std::time::Duration;

use brigade_client::{Client, GuestLocation};

/// How often `console --follow` reads new output.
const CONSOLE_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Prints the guest's console log; with `follow`, keeps printing what is new.
pub async fn follow_log(
    c: &Client,
    loc: &GuestLocation,
    follow: bool,
    tail: Option<u64>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut printed = c.guest_console_log(loc, tail).await?;
    out!("{printed}");
    std::io::stdout().flush()?;
    if !follow {
        return Ok(());
    }
    loop {
        tokio::time::sleep(CONSOLE_POLL_INTERVAL).await;
        let loc = c.locate(loc.vmid).await?;
        let now = c.guest_console_log(&loc, None).await?;
        // The log only grows while the guest runs; print the part after what we saw.
        let new = match now.rfind(printed.as_str()) {
            Some(i) if !printed.is_empty() => &now[i + printed.len()..],
            _ => now.as_str(),
        };
        out!("{new}");
        std::io::stdout().flush()?;
        printed = now;
    }
}
