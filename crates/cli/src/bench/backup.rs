//! `brigade bench backup`: a full and a second backup of a stopped VM's qcow2 disk into a
//! backup storage, then both again live while a VM runs on it, next to `qemu-img convert`
//! of the same disk to the same filesystem.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use brigade_backup::{backup_files, Datastore, DiskFile, FileBackupRequest, Stats, CHUNK_SIZE};

use crate::output::{print_json, table};

const MIB: u64 = 1024 * 1024;

#[derive(Args, Debug, Clone)]
pub struct BackupBenchArgs {
    /// Size of the disk, MiB (every 4 MiB chunk holds other bytes, so nothing deduplicates).
    #[arg(long, default_value_t = 1024)]
    pub size_mib: u64,
    /// MiB the guest changes between the two backups.
    #[arg(long, default_value_t = 10)]
    pub change_mib: u64,
    /// Directory on the storage to measure (default: a new one under /var/tmp).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The test appliance (scripts/build-appliance) the live rows boot on the disk.
    #[arg(long, default_value = "/var/cache/brigade/appliance")]
    pub appliance: PathBuf,
    /// Only the stopped VM's rows (no live backups).
    #[arg(long)]
    pub no_live: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One measured run.
#[derive(Debug, Serialize)]
pub struct Run {
    pub what: String,
    pub seconds: f64,
    pub read_bytes: u64,
    pub written_bytes: u64,
}

impl Run {
    fn mib_per_s(&self, size: u64) -> f64 {
        size as f64 / MIB as f64 / self.seconds
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A qcow2 disk of `size_mib` whose every chunk holds a different byte pattern.
fn make_disk(path: &Path, size_mib: u64) -> anyhow::Result<()> {
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(path)
        .arg(format!("{size_mib}M")))?;
    let chunk_mib = CHUNK_SIZE / MIB;
    let mut io = Command::new("qemu-io");
    io.args(["-f", "qcow2"]);
    for (n, offset) in (0..size_mib).step_by(chunk_mib as usize).enumerate() {
        io.arg("-c").arg(format!(
            "write -q -P {} {offset}M {chunk_mib}M",
            n % 251 + 1
        ));
    }
    run(io.arg(path))
}

fn backup(ds: &Datastore, disk: &Path, second: u32) -> anyhow::Result<Run> {
    let t = Instant::now();
    let report = backup_files(
        ds,
        &FileBackupRequest {
            vmid: 100,
            config: "memory: 512\nscsi0: local:100/vm-100-disk-0.qcow2\n".into(),
            disks: vec![DiskFile {
                slot: "scsi0".into(),
                path: disk.to_path_buf(),
            }],
            time: chrono::Utc::now() + chrono::Duration::seconds(i64::from(second)),
            bwlimit_kib: None,
            abort: brigade_backup::Abort::default(),
        },
    )?;
    let stats: Stats = report.stats;
    Ok(Run {
        what: String::new(),
        seconds: t.elapsed().as_secs_f64(),
        read_bytes: stats.read_bytes,
        written_bytes: stats.written_bytes,
    })
}

async fn measure(dir: &Path, args: &BackupBenchArgs) -> anyhow::Result<Vec<Run>> {
    let (owned_dir, owned_args) = (dir.to_path_buf(), args.clone());
    let mut runs =
        tokio::task::spawn_blocking(move || measure_files(&owned_dir, &owned_args)).await??;
    if !args.no_live {
        let disk = dir.join("vm-100-disk-0.qcow2");
        let ds = Datastore::open(&dir.join("datastore"))?;
        let live =
            super::backup_live::measure_live(dir, &disk, &ds, &args.appliance, args.change_mib)
                .await?;
        // Before qemu-img convert's row.
        let convert = runs.pop();
        runs.extend(live);
        runs.extend(convert);
    }
    Ok(runs)
}

fn measure_files(dir: &Path, args: &BackupBenchArgs) -> anyhow::Result<Vec<Run>> {
    std::fs::create_dir_all(dir)?;
    let disk = dir.join("vm-100-disk-0.qcow2");
    make_disk(&disk, args.size_mib)?;
    let ds = Datastore::open(&dir.join("datastore"))?;
    let mut full = backup(&ds, &disk, 0)?;
    full.what = "brigade backup, first (full)".into();
    run(Command::new("qemu-io")
        .args(["-f", "qcow2", "-c"])
        .arg(format!("write -q -P 255 0 {}M", args.change_mib))
        .arg(&disk))?;
    let mut second = backup(&ds, &disk, 1)?;
    second.what = format!(
        "brigade backup, second after {} MiB changed (image read whole, chunks compared)",
        args.change_mib
    );
    let copy = dir.join("copy.qcow2");
    let t = Instant::now();
    run(Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "qcow2"])
        .arg(&disk)
        .arg(&copy))?;
    let convert = Run {
        what: "qemu-img convert of the same disk, same filesystem".into(),
        seconds: t.elapsed().as_secs_f64(),
        read_bytes: args.size_mib * MIB,
        written_bytes: std::fs::metadata(&copy)?.len(),
    };
    Ok(vec![full, second, convert])
}

pub async fn run_bench(args: BackupBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.size_mib >= 4 && args.change_mib <= args.size_mib,
        "--size-mib must be at least 4 and --change-mib at most --size-mib"
    );
    let dir = args.dir.clone().unwrap_or_else(|| {
        PathBuf::from("/var/tmp").join(format!("brigade-bench-backup-{}", std::process::id()))
    });
    let owned = args.dir.is_none();
    let result = measure(&dir, &args).await;
    if owned {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let runs = result?;
    if args.json {
        return print_json(&runs);
    }
    outln!(
        "a VM's {} MiB qcow2 disk (stopped, then running the appliance under TCG), backup storage and copy on {}",
        args.size_mib,
        dir.parent().unwrap_or(&dir).display()
    );
    let mut t = table(&[
        "what",
        "seconds",
        "MiB/s of disk",
        "read MiB",
        "written MiB",
    ]);
    for r in &runs {
        t.add_row(vec![
            r.what.clone(),
            format!("{:.2}", r.seconds),
            format!("{:.0}", r.mib_per_s(args.size_mib * MIB)),
            format!("{:.1}", r.read_bytes as f64 / MIB as f64),
            format!("{:.1}", r.written_bytes as f64 / MIB as f64),
        ]);
    }
    outln!("{t}");
    Ok(())
}
