//! `brigade log`: the cluster log (joins, deaths, quorum and leader changes, clock alarms),
//! from `GET /cluster/log` (Sys.Audit on `/`), followed through the change notices.

use clap::Args;

use brigade_client::ClusterLogEntry;

use crate::connect::{client, GlobalArgs};
use crate::output::{format_time, print_json};

/// The change notices' source that names a new cluster log event.
const LOG_SOURCE: &str = "log";

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Keep printing new events as they happen.
    #[arg(long, short)]
    pub follow: bool,
    /// Show only the last N events.
    #[arg(long, short = 'n')]
    pub lines: Option<usize>,
}

fn show(g: &GlobalArgs, ev: &ClusterLogEntry) -> anyhow::Result<()> {
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

/// The events of `events` after `last` (all of them when `last` is not among them).
fn after<'a>(
    events: &'a [ClusterLogEntry],
    last: Option<&ClusterLogEntry>,
) -> &'a [ClusterLogEntry] {
    let start = last
        .and_then(|l| events.iter().rposition(|e| e == l))
        .map_or(0, |i| i + 1);
    &events[start..]
}

pub async fn run(g: &GlobalArgs, args: LogArgs) -> anyhow::Result<()> {
    let c = client(g)?;
    // Subscribed before the first read: no event falls between the two.
    let mut notices = if args.follow {
        Some(c.cluster_events().await?)
    } else {
        None
    };
    // `max` 0: every event kept (`-n N` shows the newest N of them).
    let events = c.cluster_log(Some(0)).await?;
    let skip = args.lines.map_or(0, |n| events.len().saturating_sub(n));
    if g.json() && !args.follow {
        return print_json(&events[skip..].to_vec());
    }
    for ev in &events[skip..] {
        show(g, ev)?;
    }
    let Some(n) = notices.as_mut() else {
        return Ok(());
    };
    let mut last = events.last().cloned();
    while let Some(changed) = n.next_change().await {
        if !changed?.iter().any(|s| s == LOG_SOURCE) {
            continue;
        }
        let events = c.cluster_log(Some(0)).await?;
        for ev in after(&events, last.as_ref()) {
            show(g, ev)?;
        }
        last = events.last().cloned().or(last);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(time: u64, msg: &str) -> ClusterLogEntry {
        ClusterLogEntry {
            time,
            node: "n1".into(),
            kind: "joined".into(),
            msg: msg.into(),
        }
    }

    #[test]
    fn follow_prints_only_what_came_after_the_last_event_shown() {
        let all = [ev(1, "a"), ev(2, "b"), ev(3, "c")];
        assert_eq!(after(&all, Some(&all[1])), &all[2..]);
        assert_eq!(after(&all, Some(&all[2])), &[] as &[ClusterLogEntry]);
        assert_eq!(after(&all, None), &all[..]);
        assert_eq!(after(&all, Some(&ev(9, "gone"))), &all[..]);
    }
}
