//! `brigade vm migrate`: start the task, follow its log with a progress bar, print total
//! time and downtime.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use brigade_client::Client;
use brigade_core::layout::GuestKind;
use brigade_core::poll_until;
use indicatif::{ProgressBar, ProgressStyle};

use super::task::FollowOpts;
use crate::connect::GlobalArgs;
use crate::output::print_json;

/// How often the progress bar is refreshed from the task.
const PROGRESS_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How long a migration is followed at most.
const MIGRATION_FOLLOW_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
/// Log lines asked for at once.
const LOG_PAGE: usize = 1000;

pub async fn run(
    g: &GlobalArgs,
    c: &Client,
    (kind, vmid): (GuestKind, u32),
    target: &str,
    online: bool,
    follow: FollowOpts,
) -> anyhow::Result<()> {
    let loc = c.locate(vmid).await?;
    if loc.kind != kind {
        bail!(
            "{vmid} is not a {}",
            if kind == GuestKind::Qemu {
                "VM"
            } else {
                "container"
            }
        );
    }
    let started = c
        .guest_migrate(&loc, target, online)
        .await
        .with_context(|| format!("cannot migrate {vmid} to {target}"))?;
    if follow.no_follow {
        if g.json() {
            return print_json(&started);
        }
        outln!("{}", started.upid);
        return Ok(());
    }
    if !g.json() {
        eprintln!("task {}", started.upid);
    }
    let show = !g.json() && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = if show {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {elapsed})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_message("starting");
        b
    } else {
        ProgressBar::hidden()
    };
    let next_line = std::cell::Cell::new(0usize);
    let (bar, next_line, started) = (&bar, &next_line, &started);
    let task = poll_until(
        Instant::now() + MIGRATION_FOLLOW_TIMEOUT,
        PROGRESS_POLL_INTERVAL,
        move || async move {
            let t = match c.task_status(&started.node, &started.upid).await {
                Ok(t) => t,
                Err(e) => return Some(Err(e)),
            };
            if !g.json() {
                if let Ok(lines) = c.task_log(&started.upid, next_line.get(), LOG_PAGE).await {
                    next_line.set(next_line.get() + lines.len());
                    for l in lines {
                        if show {
                            bar.println(format!("  {}", l.t));
                        } else {
                            eprintln!("  {}", l.t);
                        }
                    }
                }
            }
            if let Some(p) = &t.progress {
                bar.set_length(p.total_bytes.max(p.transferred_bytes));
                bar.set_position(
                    p.transferred_bytes
                        .min(p.total_bytes.max(p.transferred_bytes)),
                );
                let mut msg = p.status.clone();
                if let Some(d) = p.expected_downtime_ms {
                    msg = format!(
                        "{msg}, expected downtime {d} ms, {} remaining",
                        indicatif::HumanBytes(p.remaining_bytes)
                    );
                }
                bar.set_message(msg);
            }
            (t.status != "running").then_some(Ok(t))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("migration task {} still runs after {e}", started.upid))??;
    bar.finish_and_clear();
    if g.json() {
        return print_json(&task);
    }
    if task.status != "ok" {
        bail!(
            "migration of {vmid} to {target} failed: {}",
            task.error.unwrap_or_else(|| "unknown error".into())
        );
    }
    let r = task.result.unwrap_or_default();
    outln!(
        "{} {vmid} migrated {} {} -> {} in {:.2} s",
        if kind == GuestKind::Qemu {
            "VM"
        } else {
            "container"
        },
        if r.online { "live" } else { "offline" },
        r.source,
        r.target,
        r.total_time_ms as f64 / 1000.0
    );
    if let Some(d) = r.downtime_ms {
        outln!("downtime: {d} ms (reported by QEMU)");
    }
    if !r.copied_volumes.is_empty() {
        outln!("copied: {}", r.copied_volumes.join(", "));
    }
    Ok(())
}
