//! `brigade storage ...`: storage.cfg and free space, like `pvesm`.

use anyhow::Context as _;
use brigade_api::storage::{StorageAddRequest, StorageStatusRow};
use clap::Subcommand;

use crate::connect::{client, GlobalArgs};
use crate::output::{print_json, table};

#[derive(Subcommand, Debug)]
pub enum StorageCmd {
    /// The storages of storage.cfg.
    List,
    /// Add a `dir` storage. Its path may use {node} or {state_dir}, expanded per node.
    Add {
        id: String,
        #[arg(long)]
        path: String,
        /// Every node sees the same files at PATH (NFS, CephFS): guests on it
        /// can migrate live and be HA-managed.
        #[arg(long)]
        shared: bool,
        /// images, rootdir, iso, vztmpl, backup, snippets (comma separated).
        #[arg(long)]
        content: Option<String>,
        /// Only these nodes have it (comma separated).
        #[arg(long)]
        nodes: Option<String>,
    },
    /// Remove a storage from storage.cfg (refused while guests use it; files stay).
    Remove { id: String },
    /// Free space of every storage on every node (or --on NODE).
    Status {
        #[arg(long = "on", value_name = "NODE")]
        on: Option<String>,
    },
}

fn gib(b: u64) -> String {
    format!("{:.1}", b as f64 / (1u64 << 30) as f64)
}

pub async fn run(g: &GlobalArgs, cmd: StorageCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        StorageCmd::List => {
            let list = c.storage_list().await?;
            if g.json() {
                return print_json(&list);
            }
            let mut t = table(&["Storage", "Type", "Path", "Content", "Shared", "Nodes"]);
            for s in list {
                t.add_row(vec![
                    s.id,
                    s.kind,
                    s.path,
                    s.content.join(","),
                    if s.shared { "yes" } else { "no" }.into(),
                    s.nodes.map(|n| n.join(",")).unwrap_or_else(|| "all".into()),
                ]);
            }
            outln!("{t}");
        }
        StorageCmd::Add {
            id,
            path,
            shared,
            content,
            nodes,
        } => {
            let req = StorageAddRequest {
                storage: id.clone(),
                kind: "dir".into(),
                path,
                content,
                shared,
                nodes,
            };
            let out = c
                .storage_add(&req)
                .await
                .with_context(|| format!("cannot add storage {id}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("storage {id} added");
        }
        StorageCmd::Remove { id } => {
            let out = c
                .storage_remove(&id)
                .await
                .with_context(|| format!("cannot remove storage {id}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("storage {id} removed");
        }
        StorageCmd::Status { on } => {
            let nodes = match on {
                Some(n) => vec![n],
                None => c
                    .nodes()
                    .await?
                    .into_iter()
                    .filter(|n| n.role != "qdevice")
                    .map(|n| n.name)
                    .collect(),
            };
            let mut rows: Vec<StorageStatusRow> = Vec::new();
            let mut errors = Vec::new();
            for n in nodes {
                match c.storage_status(&n).await {
                    Ok(r) => rows.extend(r),
                    Err(e) => errors.push(format!("{n}: {e}")),
                }
            }
            if g.json() {
                return print_json(&rows);
            }
            let mut t = table(&[
                "Storage",
                "Node",
                "Type",
                "Status",
                "Total (GiB)",
                "Used (GiB)",
                "Avail (GiB)",
                "Path",
            ]);
            for r in rows {
                t.add_row(vec![
                    r.storage,
                    r.node,
                    r.kind,
                    if r.active {
                        "active".into()
                    } else {
                        r.error.unwrap_or_else(|| "inactive".into())
                    },
                    gib(r.total_bytes),
                    gib(r.used_bytes),
                    gib(r.avail_bytes),
                    r.path,
                ]);
            }
            outln!("{t}");
            for e in errors {
                eprintln!("warning: {e}");
            }
        }
    }
    Ok(())
}
