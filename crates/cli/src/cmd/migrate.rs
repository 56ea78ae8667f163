//! `brigade vm migrate`: start the task, show a progress bar, print total time and downtime.

use std::time::Duration;

use anyhow::{bail, Context as _};
use brigade_client::Client;
use brigade_core::layout::GuestKind;
use indicatif::{ProgressBar, ProgressStyle};

use crate::connect::GlobalArgs;
use crate::output::print_json;

/// How often the progress bar is refreshed from the task.
const PROGRESS_POLL_INTERVAL: Duration = Duration::from_millis(200);

pub async fn run(
    g: &GlobalArgs,
    c: &Client,
    kind: GuestKind,
    vmid: u32,
    target: &str,
    online: bool,
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
    let task = loop {
        let t = c.task_status(&started.node, &started.upid).await?;
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
        if t.status != "running" {
            break t;
        }
        tokio::time::sleep(PROGRESS_POLL_INTERVAL).await;
    };
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
