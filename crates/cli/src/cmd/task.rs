//! `brigade task`: list, status, log (--follow) and stop the long operations of the
//! cluster's nodes (Proxmox's tasks); and following a task a command started.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use brigade_client::brigade_api::tasks::{TaskState, TaskStatus};
use brigade_client::tasks::{upid_node, TaskQuery};
use brigade_client::Client;
use brigade_core::poll_until;
use clap::{Args, Subcommand};

use crate::connect::{client, GlobalArgs};
use crate::output::{format_time, print_json, table};

/// How often a followed task is asked for new log lines.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);
/// How long a task is followed at most.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
/// Log lines asked for at once.
const LOG_PAGE: usize = 1000;

#[derive(Subcommand, Debug)]
pub enum TaskCmd {
    /// The tasks of the cluster (or of --on NODE), running first, then newest first.
    List {
        /// Only this node's tasks (`--node` is the node the CLI talks to).
        #[arg(long = "on", value_name = "NODE")]
        on: Option<String>,
        /// Only tasks still running.
        #[arg(long)]
        running: bool,
        /// Only tasks on this guest.
        #[arg(long)]
        vmid: Option<u32>,
        /// At most this many tasks.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// A task's log, each line with its time (--follow: until it ends).
    Log {
        upid: String,
        #[arg(short, long)]
        follow: bool,
    },
    /// A task's status: running, ok, or error with the message.
    Status { upid: String },
    /// Stop a running task.
    Stop { upid: String },
}

/// For commands that start a task: follow it, or return at once.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct FollowOpts {
    /// Print the task's id and return at once instead of following its log.
    #[arg(long)]
    pub no_follow: bool,
}

fn state_text(t: &TaskStatus) -> String {
    match t.status {
        TaskState::Running => "running".into(),
        TaskState::Ok => "OK".into(),
        TaskState::Error => format!("error: {}", t.error.as_deref().unwrap_or("unknown error")),
    }
}

fn print_tasks(tasks: &[TaskStatus]) {
    let mut t = table(&[
        "UPID", "NODE", "TYPE", "ID", "USER", "START", "END", "STATUS",
    ]);
    for x in tasks {
        t.add_row(vec![
            x.upid.clone(),
            x.node.clone(),
            x.kind.clone(),
            x.id.clone(),
            x.user.clone(),
            format_time(x.starttime),
            x.endtime.map(format_time).unwrap_or_default(),
            state_text(x),
        ]);
    }
    outln!("{t}");
}

pub async fn run(g: &GlobalArgs, cmd: TaskCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        TaskCmd::List {
            on,
            running,
            vmid,
            limit,
        } => {
            let q = TaskQuery {
                running,
                vmid,
                limit,
            };
            if let Some(n) = on {
                let tasks = c.task_list(&n, &q).await?;
                if g.json() {
                    return print_json(&tasks);
                }
                print_tasks(&tasks);
                return Ok(());
            }
            let all = c.cluster_tasks(&q).await?;
            if g.json() {
                return print_json(&all);
            }
            print_tasks(&all.tasks);
            for n in all.nodes.iter().filter(|n| n.state != "ok") {
                eprintln!(
                    "node {} is {}: {}",
                    n.node,
                    n.state,
                    n.error.as_deref().unwrap_or("")
                );
            }
        }
        TaskCmd::Status { upid } => {
            let t = c.task_status(upid_node(&upid)?, &upid).await?;
            if g.json() {
                return print_json(&t);
            }
            outln!("{}: {}", t.upid, state_text(&t));
            outln!(
                "node {}, type {}, id {}, user {}",
                t.node,
                t.kind,
                t.id,
                t.user
            );
            outln!(
                "started {}{}",
                format_time(t.starttime),
                t.endtime
                    .map(|e| format!(", ended {}", format_time(e)))
                    .unwrap_or_default()
            );
        }
        TaskCmd::Stop { upid } => {
            let v = c
                .task_stop(&upid)
                .await
                .with_context(|| format!("cannot stop task {upid}"))?;
            if g.json() {
                return print_json(&v);
            }
            outln!("asked task {upid} to stop");
        }
        TaskCmd::Log { upid, follow } => {
            if g.json() && !follow {
                return print_json(&c.task_log(&upid, 0, usize::MAX >> 1).await?);
            }
            if follow {
                let t = follow_task(&c, &upid, |l| outln!("{l}")).await?;
                if t.status == TaskState::Error {
                    bail!("task failed: {}", t.error.unwrap_or_default());
                }
            } else {
                let mut start = 0;
                loop {
                    let lines = c.task_log(&upid, start, LOG_PAGE).await?;
                    for l in &lines {
                        outln!("{}", l.t);
                    }
                    if lines.len() < LOG_PAGE {
                        break;
                    }
                    start += lines.len();
                }
            }
        }
    }
    Ok(())
}

/// Prints a task's log lines (through `print`) as they come until it ends; its status then.
pub async fn follow_task(
    c: &Client,
    upid: &str,
    mut print: impl FnMut(&str),
) -> anyhow::Result<TaskStatus> {
    let node = upid_node(upid)?.to_string();
    let next = std::cell::Cell::new(0usize);
    let print = std::cell::RefCell::new(&mut print);
    let (next, print, node) = (&next, &print, &node);
    poll_until(
        Instant::now() + FOLLOW_TIMEOUT,
        FOLLOW_INTERVAL,
        move || async move {
            // The status first: a task that ended has all its lines written.
            let status = match c.task_status(node, upid).await {
                Ok(s) => s,
                Err(e) => return Some(Err(anyhow::Error::from(e))),
            };
            loop {
                let lines = match c.task_log(upid, next.get(), LOG_PAGE).await {
                    Ok(l) => l,
                    Err(e) => return Some(Err(e.into())),
                };
                for l in &lines {
                    (print.borrow_mut())(&l.t);
                }
                next.set(next.get() + lines.len());
                if lines.len() < LOG_PAGE {
                    break;
                }
            }
            (status.status != TaskState::Running).then_some(Ok(status))
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("task {upid} still runs after {e}"))?
}

/// After a command started task `upid`: its id on stderr, then (unless --no-follow) its
/// log until it ends; an error when it failed.
pub async fn after_start(
    g: &GlobalArgs,
    c: &Client,
    upid: Option<&str>,
    opts: FollowOpts,
) -> anyhow::Result<Option<TaskStatus>> {
    let Some(upid) = upid else {
        return Ok(None);
    };
    if g.json() || opts.no_follow {
        if !g.json() {
            eprintln!("task {upid}");
        }
        return Ok(None);
    }
    eprintln!("task {upid}");
    let t = follow_task(c, upid, |l| eprintln!("  {l}")).await?;
    if t.status == TaskState::Error {
        bail!(
            "task {upid} failed: {}",
            t.error.clone().unwrap_or_else(|| "unknown error".into())
        );
    }
    Ok(Some(t))
}
