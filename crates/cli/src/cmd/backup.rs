//! `brigade backup ...`: back up guests to a backup storage and restore them, like
//! `vzdump`, `qmrestore` and `pvesm prune-backups`.

use anyhow::{bail, Context as _};
use brigade_api::backup::{
    parse_backup_volid, BackupContent, DumpMode, PruneRequest, RestoreRequest, VerifyRequest,
    VzdumpRequest,
};
use brigade_api::tasks::TaskState;
use brigade_client::Client;
use clap::{Args, Subcommand, ValueEnum};

use super::task::{after_start, follow_task, FollowOpts};
use crate::connect::{client, GlobalArgs};
use crate::output::{format_time, print_json, table};

/// The `--mode` of `backup run`.
#[derive(ValueEnum, Debug, Clone, Copy, Default)]
pub enum ModeArg {
    /// Live: the guest keeps running; the first backup reads the whole disk, the next
    /// ones only what the guest wrote since (dirty bitmaps).
    #[default]
    Snapshot,
    /// The guest is paused while its disks are read.
    Suspend,
    /// The guest is shut down, backed up from its image files, started again.
    Stop,
}

impl From<ModeArg> for DumpMode {
    fn from(m: ModeArg) -> DumpMode {
        match m {
            ModeArg::Snapshot => DumpMode::Snapshot,
            ModeArg::Suspend => DumpMode::Suspend,
            ModeArg::Stop => DumpMode::Stop,
        }
    }
}

/// The node a listing, verify, prune or restore runs on.
#[derive(Args, Debug, Clone, Default)]
pub struct OnNode {
    /// Run on this node (default: the one the CLI talks to). A shared backup storage
    /// looks the same from every node.
    #[arg(long = "on", value_name = "NODE")]
    pub on: Option<String>,
}

impl OnNode {
    fn name(&self) -> &str {
        self.on.as_deref().unwrap_or("localhost")
    }
}

#[derive(Subcommand, Debug)]
pub enum BackupCmd {
    /// Back up a VM now, as a task on the node that runs it (like `vzdump VMID --storage S`).
    ///
    /// The storage is a `dir` storage with `content backup`
    /// (`brigade storage add backups --path /srv/backups --content backup --shared`).
    /// Chunks are deduplicated: only new 4 MiB chunks are written.
    #[command(
        after_help = "Example:\n  brigade backup run 100 --storage backups\n  brigade backup list --storage backups --vmid 100"
    )]
    Run {
        /// The guest to back up, VM or container (wherever it runs).
        vmid: u32,
        /// The backup storage (a `dir` storage with `content backup`).
        #[arg(long)]
        storage: String,
        #[arg(long, value_enum, default_value_t = ModeArg::Snapshot)]
        mode: ModeArg,
        /// Read at most this many KiB/s.
        #[arg(long, value_name = "KIB")]
        bwlimit: Option<u64>,
        #[command(flatten)]
        follow: FollowOpts,
    },
    /// The backups on a storage (all backup storages when --storage is not given).
    List {
        #[arg(long)]
        storage: Option<String>,
        /// Only this guest's backups.
        #[arg(long)]
        vmid: Option<u32>,
        #[command(flatten)]
        on: OnNode,
    },
    /// Restore a backup as VM VMID (like `qmrestore VOLID VMID`); an existing VMID needs --force.
    #[command(
        after_help = "Example:\n  brigade backup restore backups:backup/vm/100/2026-12-01T16:03:20Z 100 --on n2"
    )]
    Restore {
        /// The backup's volume id, as `backup list` shows it.
        volid: String,
        /// The VMID to restore as: the backed-up one or a new one.
        vmid: u32,
        /// The storage for the disks (default: the backed-up VM's first disk's).
        #[arg(long)]
        storage: Option<String>,
        /// Overwrite VM VMID (it must be stopped and on that node).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        on: OnNode,
        #[command(flatten)]
        follow: FollowOpts,
    },
    /// Re-read every chunk and check its hash; damaged chunks are listed with the backups they affect.
    Verify {
        /// The backup storage (default: the one of --volid).
        #[arg(long)]
        storage: Option<String>,
        /// Verify this backup only.
        #[arg(long)]
        volid: Option<String>,
        #[command(flatten)]
        on: OnNode,
    },
    /// Remove backups the keep options do not keep (Proxmox's prune-backups rules).
    #[command(
        after_help = "Example:\n  brigade backup prune --storage backups --keep-last 3 --keep-daily 7 --dry-run"
    )]
    Prune {
        /// The backup storage.
        #[arg(long)]
        storage: String,
        /// Only this guest's backups.
        #[arg(long)]
        vmid: Option<u32>,
        #[arg(long)]
        keep_last: Option<u64>,
        #[arg(long)]
        keep_hourly: Option<u64>,
        #[arg(long)]
        keep_daily: Option<u64>,
        #[arg(long)]
        keep_weekly: Option<u64>,
        #[arg(long)]
        keep_monthly: Option<u64>,
        #[arg(long)]
        keep_yearly: Option<u64>,
        /// Only show what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Then free the chunks no backup references (garbage collection).
        #[arg(long)]
        gc: bool,
        #[command(flatten)]
        on: OnNode,
    },
    /// Scheduled backup jobs (jobs.cfg): add, list, show, set, remove, run.
    #[command(subcommand)]
    Job(super::backup_job::JobCmd),
}

fn mib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1u64 << 20) as f64)
}

fn time_text(t: i64) -> String {
    format_time(u64::try_from(t).unwrap_or_default())
}

fn print_content(list: &[BackupContent]) {
    let mut t = table(&[
        "Volid",
        "VMID",
        "Time (UTC)",
        "Size MiB",
        "Mode",
        "Read MiB",
        "Written MiB",
    ]);
    for b in list {
        t.add_row(vec![
            b.volid.clone(),
            b.vmid.to_string(),
            time_text(b.ctime),
            mib(b.size),
            format!(
                "{}{}",
                b.mode,
                if b.disks.iter().any(|d| d.read_mode == "incremental") {
                    " (incr.)"
                } else {
                    ""
                }
            ),
            mib(b.disks.iter().map(|d| d.read_bytes).sum()),
            mib(b.disks.iter().map(|d| d.written_bytes).sum()),
        ]);
    }
    outln!("{t}");
}

/// The storages with `content backup`.
async fn backup_storages(c: &Client) -> anyhow::Result<Vec<String>> {
    Ok(c.storage_list()
        .await?
        .into_iter()
        .filter(|s| s.content.iter().any(|x| x == "backup"))
        .map(|s| s.id)
        .collect())
}

/// Follows a started task; with --output json, its final status is printed.
async fn follow(
    g: &GlobalArgs,
    c: &Client,
    upid: &str,
    opts: FollowOpts,
    what: &str,
) -> anyhow::Result<()> {
    if g.json() && !opts.no_follow {
        let t = follow_task(c, upid, |_| {}).await?;
        print_json(&t)?;
        if t.status == TaskState::Error {
            bail!("{what} failed: {}", t.error.unwrap_or_default());
        }
        return Ok(());
    }
    if opts.no_follow && g.json() {
        return print_json(&serde_json::json!({ "upid": upid }));
    }
    if opts.no_follow {
        outln!("{upid}");
        return Ok(());
    }
    after_start(g, c, Some(upid), opts)
        .await
        .with_context(|| what.to_string())?;
    Ok(())
}

pub async fn run(g: &GlobalArgs, cmd: BackupCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        BackupCmd::Job(j) => super::backup_job::run(g, &c, j).await,
        BackupCmd::Run {
            vmid,
            storage,
            mode,
            bwlimit,
            follow: f,
        } => {
            let req = VzdumpRequest {
                vmid,
                storage: storage.clone(),
                mode: mode.into(),
                bwlimit,
            };
            let started = c
                .backup_run("localhost", &req)
                .await
                .with_context(|| format!("cannot back up {vmid} to {storage}"))?;
            follow(g, &c, &started.upid, f, &format!("backup of {vmid}")).await
        }
        BackupCmd::List { storage, vmid, on } => {
            let storages = match storage {
                Some(s) => vec![s],
                None => backup_storages(&c).await?,
            };
            let mut all = Vec::new();
            for s in &storages {
                all.extend(
                    c.backup_list(on.name(), s, vmid)
                        .await
                        .with_context(|| format!("cannot list the backups on {s}"))?,
                );
            }
            if g.json() {
                return print_json(&all);
            }
            print_content(&all);
            Ok(())
        }
        BackupCmd::Restore {
            volid,
            vmid,
            storage,
            force,
            on,
            follow: f,
        } => {
            let req = RestoreRequest {
                vmid,
                archive: volid.clone(),
                storage,
                force,
            };
            let started = c
                .backup_restore(on.name(), &req)
                .await
                .with_context(|| format!("cannot restore {volid} as {vmid}"))?;
            follow(g, &c, &started.upid, f, &format!("restore of {volid}")).await
        }
        BackupCmd::Verify { storage, volid, on } => {
            let storage = match (storage, &volid) {
                (Some(s), _) => s,
                (None, Some(v)) => parse_backup_volid(v)
                    .map(|(s, _, _)| s)
                    .with_context(|| format!("{v:?} is not a backup volume id"))?,
                (None, None) => bail!("give --storage (or --volid)"),
            };
            let r = c
                .backup_verify(on.name(), &storage, &VerifyRequest { volid })
                .await
                .with_context(|| format!("cannot verify {storage}"))?;
            if g.json() {
                print_json(&r)?;
            } else {
                outln!(
                    "{}: {} backups, {} chunks ({} MiB) re-read",
                    r.storage,
                    r.backups,
                    r.chunks_checked,
                    mib(r.bytes_checked)
                );
                for d in &r.damaged_chunks {
                    outln!(
                        "damaged chunk {}: {} (used by {})",
                        d.digest,
                        d.reason,
                        d.backups.join(", ")
                    );
                }
                for d in &r.damaged_backups {
                    outln!("damaged backup {d}");
                }
            }
            if !r.ok {
                bail!("verify found damage in: {}", r.affected.join(", "));
            }
            if !g.json() {
                outln!("OK");
            }
            Ok(())
        }
        BackupCmd::Prune {
            storage,
            vmid,
            keep_last,
            keep_hourly,
            keep_daily,
            keep_weekly,
            keep_monthly,
            keep_yearly,
            dry_run,
            gc,
            on,
        } => {
            let req = PruneRequest {
                vmid,
                keep_last,
                keep_hourly,
                keep_daily,
                keep_weekly,
                keep_monthly,
                keep_yearly,
                dry_run,
                gc,
            };
            let r = c
                .backup_prune(on.name(), &storage, &req)
                .await
                .with_context(|| format!("cannot prune {storage}"))?;
            if g.json() {
                return print_json(&r);
            }
            let mut t = table(&[
                "Volid",
                "VMID",
                "Time (UTC)",
                if dry_run { "Would" } else { "Done" },
            ]);
            for e in &r.entries {
                t.add_row(vec![
                    e.volid.clone(),
                    e.vmid.to_string(),
                    time_text(e.ctime),
                    e.mark.clone(),
                ]);
            }
            outln!("{t}");
            if let (Some(n), Some(b)) = (r.gc_removed_chunks, r.gc_removed_bytes) {
                outln!("garbage collection: removed {n} chunks ({} MiB)", mib(b));
            }
            Ok(())
        }
    }
}
