//! `brigade log`: the cluster log (joins, deaths, quorum and leader changes, clock alarms).

use clap::Args;

use brigade_node::cluster_log::LogEvent;

use crate::connect::{client, GlobalArgs};
use crate::output::{format_time, print_json};

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Keep printing new events as they happen.
    #[arg(long, short)]
    pub follow: bool,
    /// Show only the last N events.
    #[arg(long, short = 'n')]
    pub lines: Option<usize>,
}

fn parse(content: &str) -> Vec<LogEvent> {
    content
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn show(g: &GlobalArgs, ev: &LogEvent) -> anyhow::Result<()> {
    if g.json() {
        outln!("{}", serde_json::to_string(ev)?);
    } else {
        outln!(
            "{}  {:<6} {:<15} {}",
            format_time(ev.time),
            ev.node,
            ev.kind,
            ev.msg
        );
    }
    Ok(())
}

pub async fn run(g: &GlobalArgs, args: LogArgs) -> anyhow::Result<()> {
    let c = client(g)?;
    let read = |c: brigade_client::Client| async move {
        match c.fs_read(brigade_core::layout::CLUSTER_LOG, false).await {
            Ok(f) => Ok(parse(&f.content.unwrap_or_default())),
            Err(e) if e.status() == Some(404) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    };
    let mut watch = if args.follow {
        Some(c.fs_watch(brigade_core::layout::CLUSTER_LOG).await?)
    } else {
        None
    };
    let events = read(c.clone()).await?;
    let skip = args
        .lines
        .map(|n| events.len().saturating_sub(n))
        .unwrap_or(0);
    if g.json() && !args.follow {
        return print_json(&events[skip..].to_vec());
    }
    for ev in &events[skip..] {
        show(g, ev)?;
    }
    let Some(w) = watch.as_mut() else {
        return Ok(());
    };
    let mut last = events.last().cloned();
    while let Some(change) = w.next().await {
        change?;
        let events = read(c.clone()).await?;
        let start = match &last {
            Some(l) => events
                .iter()
                .rposition(|e| e == l)
                .map(|i| i + 1)
                .unwrap_or(0),
            None => 0,
        };
        for ev in &events[start..] {
            show(g, ev)?;
        }
        last = events.last().cloned().or(last);
    }
    Ok(())
}
