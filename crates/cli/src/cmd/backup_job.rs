//! `brigade backup job ...`: scheduled backup jobs of `jobs.cfg`, like Proxmox's
//! Datacenter > Backup (`pvesh /cluster/backup`): add, list (with next runs), show, set, remove, run.

use anyhow::Context as _;
use brigade_api::backup_jobs::{BackupJobRequest, BackupJobRow};
use brigade_client::Client;
use clap::{Args, Subcommand};

use super::backup::ModeArg;
use crate::connect::GlobalArgs;
use crate::output::{format_time, print_json, table};

/// The properties of `job add` and `job set`.
#[derive(Args, Debug, Clone, Default)]
pub struct JobProps {
    /// When it runs, systemd calendar syntax: `daily`, `mon..fri 02:30`, `*:0/15`, `minutely`.
    #[arg(long)]
    pub schedule: Option<String>,
    /// The backup storage (a `dir` storage with `content backup`).
    #[arg(long)]
    pub storage: Option<String>,
    /// How a running guest is backed up (default snapshot: live).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// These guests: `100,101`.
    #[arg(long, value_name = "LIST")]
    pub vmid: Option<String>,
    /// Every guest of the cluster (see --exclude).
    #[arg(long)]
    pub all: bool,
    /// With --all: not these guests (`102,103`).
    #[arg(long, value_name = "LIST")]
    pub exclude: Option<String>,
    /// The guests of this pool.
    #[arg(long)]
    pub pool: Option<String>,
    /// Retention after each run: `keep-last=3,keep-daily=7,...`.
    #[arg(long, value_name = "KEEP")]
    pub prune_backups: Option<String>,
    /// A point missed while no node could run it runs once at the next check (0|1).
    #[arg(long, value_name = "0|1")]
    pub repeat_missed: Option<u8>,
    /// Read at most this many KiB/s.
    #[arg(long, value_name = "KIB")]
    pub bwlimit: Option<u64>,
    /// Whether the job runs (0|1).
    #[arg(long, value_name = "0|1")]
    pub enabled: Option<u8>,
    #[arg(long)]
    pub comment: Option<String>,
}

fn flag(name: &str, v: Option<u8>) -> anyhow::Result<Option<bool>> {
    match v {
        None => Ok(None),
        Some(0) => Ok(Some(false)),
        Some(1) => Ok(Some(true)),
        Some(n) => anyhow::bail!("--{name}: 0 or 1, not {n}"),
    }
}

impl JobProps {
    fn request(
        self,
        id: Option<String>,
        delete: Option<String>,
    ) -> anyhow::Result<BackupJobRequest> {
        Ok(BackupJobRequest {
            id,
            schedule: self.schedule,
            storage: self.storage,
            mode: self.mode.map(Into::into),
            vmid: self.vmid,
            all: self.all.then_some(true),
            exclude: self.exclude,
            pool: self.pool,
            prune_backups: self.prune_backups,
            repeat_missed: flag("repeat-missed", self.repeat_missed)?,
            bwlimit: self.bwlimit,
            enabled: flag("enabled", self.enabled)?,
            comment: self.comment,
            delete,
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum JobCmd {
    /// Add a scheduled backup job: it runs once per scheduled time cluster-wide, each guest
    /// on the node that runs it, and shows as a `vzdump` task there.
    #[command(
        after_help = "Example:\n  brigade backup job add nightly --schedule 'mon..fri 02:30' --storage backups --all --exclude 102 --prune-backups keep-last=3,keep-daily=7\n  brigade backup job add every-minute --schedule minutely --storage backups --vmid 100"
    )]
    Add {
        /// The job id: a letter, then letters, digits, `-`, `_` or `.`.
        id: String,
        #[command(flatten)]
        props: JobProps,
    },
    /// The jobs with their schedules and next runs.
    List,
    /// One job with its recent runs (which node ran which guest, for which scheduled time).
    Show {
        /// The job id.
        id: String,
    },
    /// Change a job: only the options given change.
    #[command(
        after_help = "Example:\n  brigade backup job set nightly --enabled 0\n  brigade backup job set nightly --delete prune-backups"
    )]
    Set {
        /// The job id.
        id: String,
        #[command(flatten)]
        props: JobProps,
        /// Remove properties: `exclude,prune-backups,bwlimit,comment,repeat-missed`.
        #[arg(long, value_name = "LIST")]
        delete: Option<String>,
    },
    /// Remove a job (its backups stay).
    Remove {
        /// The job id.
        id: String,
    },
    /// Run a job now, outside its schedule: a backup task per guest on its node.
    Run {
        /// The job id.
        id: String,
    },
}

fn when(t: Option<i64>) -> String {
    t.and_then(|t| u64::try_from(t).ok())
        .map_or_else(|| "-".into(), format_time)
}

fn guests(j: &BackupJobRow) -> String {
    match (&j.vmid, j.all, &j.pool) {
        (Some(v), _, _) => v.clone(),
        (_, true, _) => match &j.exclude {
            Some(e) => format!("all but {e}"),
            None => "all".into(),
        },
        (_, _, Some(p)) => format!("pool {p}"),
        _ => "-".into(),
    }
}

fn print_jobs(list: &[BackupJobRow]) {
    let mut t = table(&[
        "ID",
        "Enabled",
        "Schedule",
        "Next run (UTC)",
        "Storage",
        "Mode",
        "Guests",
    ]);
    for j in list {
        t.add_row(vec![
            j.id.clone(),
            if j.enabled { "yes" } else { "no" }.into(),
            j.schedule.clone(),
            when(j.next_run),
            j.storage.clone(),
            j.mode.clone(),
            guests(j),
        ]);
    }
    outln!("{t}");
}

fn print_job(j: &BackupJobRow) {
    print_jobs(std::slice::from_ref(j));
    if let Some(p) = &j.prune_backups {
        outln!("prune-backups: {p}");
    }
    if j.runs.is_empty() {
        outln!("no runs yet");
        return;
    }
    let mut t = table(&[
        "Scheduled (UTC)",
        "VMID",
        "Node",
        "Result",
        "Secs",
        "Backup",
    ]);
    for r in &j.runs {
        t.add_row(vec![
            when(Some(r.point)),
            r.vmid.to_string(),
            r.node.clone(),
            if r.ok {
                "OK".into()
            } else {
                format!("error: {}", r.error.clone().unwrap_or_default())
            },
            r.duration_secs.to_string(),
            r.volid.clone().unwrap_or_default(),
        ]);
    }
    outln!("{t}");
}

pub async fn run(g: &GlobalArgs, c: &Client, cmd: JobCmd) -> anyhow::Result<()> {
    match cmd {
        JobCmd::Add { id, props } => {
            let row = c
                .backup_job_add(&props.request(Some(id.clone()), None)?)
                .await
                .with_context(|| format!("cannot add backup job {id}"))?;
            if g.json() {
                return print_json(&row);
            }
            outln!("backup job {id} added; next run {} UTC", when(row.next_run));
        }
        JobCmd::List => {
            let list = c
                .backup_jobs()
                .await
                .context("cannot list the backup jobs")?;
            if g.json() {
                return print_json(&list);
            }
            print_jobs(&list);
        }
        JobCmd::Show { id } => {
            let j = c
                .backup_job(&id)
                .await
                .with_context(|| format!("cannot show backup job {id}"))?;
            if g.json() {
                return print_json(&j);
            }
            print_job(&j);
        }
        JobCmd::Set { id, props, delete } => {
            let row = c
                .backup_job_set(&id, &props.request(None, delete)?)
                .await
                .with_context(|| format!("cannot change backup job {id}"))?;
            if g.json() {
                return print_json(&row);
            }
            outln!(
                "backup job {id} changed; next run {} UTC",
                when(row.next_run)
            );
        }
        JobCmd::Remove { id } => {
            c.backup_job_remove(&id)
                .await
                .with_context(|| format!("cannot remove backup job {id}"))?;
            if g.json() {
                return print_json(&serde_json::json!({ "removed": id }));
            }
            outln!("backup job {id} removed");
        }
        JobCmd::Run { id } => {
            let started = c
                .backup_job_run(&id)
                .await
                .with_context(|| format!("cannot run backup job {id}"))?;
            if g.json() {
                return print_json(&started);
            }
            for s in started {
                outln!("{} {}", s.node, s.upid);
            }
        }
    }
    Ok(())
}
