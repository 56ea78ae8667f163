//! `brigade fs ...`: the replicated configuration tree over the API.

use std::io::Read as _;

use anyhow::Context as _;
use clap::Subcommand;

use brigade_client::WriteRequest;

use crate::connect::{client, GlobalArgs};
use crate::output::{format_time, print_json, table};

#[derive(Subcommand, Debug)]
pub enum FsCmd {
    /// List a directory.
    Ls {
        #[arg(default_value = "/")]
        path: String,
    },
    /// Print a file.
    Cat {
        path: String,
        /// Read through Raft read-index (linearizable) instead of the local replica.
        #[arg(long)]
        consistent: bool,
    },
    /// Write a file from CONTENT or standard input.
    Write {
        path: String,
        /// The content; read from standard input when absent.
        content: Option<String>,
        /// Only write if the file's current version is this (0: must not exist).
        #[arg(long)]
        expect_version: Option<u64>,
        /// Fail if the file exists.
        #[arg(long)]
        create_exclusive: bool,
    },
    /// Make a directory.
    Mkdir {
        path: String,
        /// Make parents as needed; no error if it exists.
        #[arg(short, long)]
        parents: bool,
    },
    /// Remove a file or directory.
    Rm {
        path: String,
        /// Remove a directory with its contents.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Move a file or directory atomically (the target must not exist).
    Mv { from: String, to: String },
    /// Mount the tree at MOUNTPOINT on this machine, like /etc/pve: read-write through
    /// Raft, read-only without quorum, `.members`, `.vmlist`, `.version`, `.clusterlog`.
    /// Served by the local daemon until `fs umount` or the daemon stops.
    Mount { mountpoint: std::path::PathBuf },
    /// Unmount a tree mounted with `fs mount`.
    Umount { mountpoint: std::path::PathBuf },
    /// The versions of a file, newest first: its content now (index 0) and the
    /// previous ones the tree keeps (20 per file for 7 days; a deleted file's last
    /// content too; none under priv/).
    History { path: String },
    /// Write a previous version of a file back as its new content (a normal write:
    /// validated, replicated), e.g. a deleted guest config or an overwritten storage.cfg.
    #[command(disable_version_flag = true)]
    Restore {
        path: String,
        /// The version to bring back, as `fs history` lists it.
        #[arg(long)]
        version: u64,
    },
    /// Print every change at or below PATH as it happens, one JSON object per line.
    Watch {
        #[arg(default_value = "/")]
        path: String,
        /// Exit after this many changes.
        #[arg(long)]
        count: Option<u64>,
    },
}

pub async fn run(g: &GlobalArgs, cmd: FsCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        FsCmd::Ls { path } => {
            let entries = c.fs_list(&path).await?;
            if g.json() {
                return print_json(&entries);
            }
            let mut t = table(&["Name", "Size", "Version", "Modified"]);
            for e in entries {
                let name = if e.dir {
                    format!("{}/", e.name)
                } else {
                    e.name
                };
                t.add_row(vec![
                    name,
                    e.size.to_string(),
                    e.version.to_string(),
                    format_time(e.mtime),
                ]);
            }
            outln!("{t}");
        }
        FsCmd::Cat { path, consistent } => {
            let f = c.fs_read(&path, consistent).await?;
            if g.json() {
                return print_json(&f);
            }
            if let Some(text) = f.content {
                out!("{text}");
            } else {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD.decode(&f.data)?;
                std::io::Write::write_all(&mut std::io::stdout(), &bytes)?;
            }
        }
        FsCmd::Write {
            path,
            content,
            expect_version,
            create_exclusive,
        } => {
            let content = if let Some(c) = content {
                c
            } else {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading standard input")?;
                s
            };
            let req = WriteRequest {
                path: path.clone(),
                content: Some(content),
                data: None,
                expect_version,
                create_exclusive,
            };
            let a = c
                .fs_write(&req)
                .await
                .with_context(|| format!("cannot write {path}"))?;
            if g.json() {
                return print_json(&a);
            }
            outln!("{path}: version {}", a.version);
        }
        FsCmd::Mkdir { path, parents } => {
            let a = c
                .fs_mkdir(&path, parents)
                .await
                .with_context(|| format!("cannot make {path}"))?;
            if g.json() {
                return print_json(&a);
            }
        }
        FsCmd::Rm { path, recursive } => {
            let a = c
                .fs_delete(&path, recursive)
                .await
                .with_context(|| format!("cannot remove {path}"))?;
            if g.json() {
                return print_json(&a);
            }
        }
        FsCmd::Mv { from, to } => {
            let a = c
                .fs_rename(&from, &to)
                .await
                .with_context(|| format!("cannot move {from} to {to}"))?;
            if g.json() {
                return print_json(&a);
            }
        }
        FsCmd::Mount { mountpoint } => {
            let abs = std::fs::canonicalize(&mountpoint)
                .with_context(|| format!("no directory {}", mountpoint.display()))?;
            let out = c.local_mount(&abs, false).await?;
            if g.json() {
                return print_json(&out);
            }
            outln!("cluster configuration mounted at {}", abs.display());
        }
        FsCmd::Umount { mountpoint } => {
            let abs = std::fs::canonicalize(&mountpoint).unwrap_or(mountpoint);
            let out = c.local_mount(&abs, true).await?;
            if g.json() {
                return print_json(&out);
            }
        }
        FsCmd::History { path } => super::fs_history::history(g, &c, &path).await?,
        FsCmd::Restore { path, version } => {
            super::fs_history::restore(g, &c, &path, version).await?;
        }
        FsCmd::Watch { path, count } => {
            let mut w = c.fs_watch(&path).await?;
            eprintln!("watching {path}");
            let mut seen = 0u64;
            while let Some(change) = w.next().await {
                let change = change?;
                outln!("{}", serde_json::to_string(&change)?);
                seen += 1;
                if count.is_some_and(|n| seen >= n) {
                    break;
                }
            }
        }
    }
    Ok(())
}
