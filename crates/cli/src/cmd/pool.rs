//! `brigade pool ...`: resource pools of guests and storages (like `pveum pool`).

use anyhow::Context as _;
use brigade_api::access::PoolRequest;
use clap::Subcommand;

use crate::connect::{client, GlobalArgs};
use crate::output::{print_json, table};

#[derive(Subcommand, Debug)]
#[command(after_help = "Examples:
  brigade pool add team-a --comment 'Team A' --vms 100,101 --storage local
  brigade acl set /pool/team-a --roles PVEVMAdmin --groups devs   # roles on every member
  brigade pool modify team-a --vms 102
  brigade pool modify team-a --delete --vms 101
  brigade pool delete team-a                                      # once empty
  brigade pool list")]
pub enum PoolCmd {
    /// Make a pool, optionally with members (needs Pool.Allocate on /pool/ID).
    Add {
        poolid: String,
        #[arg(long)]
        comment: Option<String>,
        /// Guests, comma-separated (each needs VM.Allocate on /vms/ID).
        #[arg(long)]
        vms: Option<String>,
        /// Storages, comma-separated (each needs Datastore.Allocate on /storage/ID).
        #[arg(long)]
        storage: Option<String>,
    },
    /// Add members (or remove them with --delete) and change the comment.
    Modify {
        poolid: String,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        vms: Option<String>,
        #[arg(long)]
        storage: Option<String>,
        /// Remove the given --vms and --storage from the pool.
        #[arg(long)]
        delete: bool,
    },
    /// Remove an empty pool; its ACL entries go too.
    Delete { poolid: String },
    /// The pools you may audit, with their members.
    List,
}

pub async fn run(g: &GlobalArgs, cmd: PoolCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        PoolCmd::Add {
            poolid,
            comment,
            vms,
            storage,
        } => {
            let req = PoolRequest {
                poolid: Some(poolid.clone()),
                comment,
                vms,
                storage,
                delete: None,
            };
            let out = c
                .pool_create(&req)
                .await
                .with_context(|| format!("cannot add pool {poolid}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("pool {poolid} added");
        }
        PoolCmd::Modify {
            poolid,
            comment,
            vms,
            storage,
            delete,
        } => {
            let req = PoolRequest {
                poolid: None,
                comment,
                vms,
                storage,
                delete: Some(delete),
            };
            let out = c
                .pool_update(&poolid, &req)
                .await
                .with_context(|| format!("cannot change pool {poolid}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("pool {poolid} changed");
        }
        PoolCmd::Delete { poolid } => {
            c.pool_delete(&poolid)
                .await
                .with_context(|| format!("cannot delete pool {poolid}"))?;
            if g.json() {
                return print_json(&serde_json::json!({ "removed": poolid }));
            }
            outln!("pool {poolid} deleted");
        }
        PoolCmd::List => {
            let list = c.pools().await?;
            if g.json() {
                return print_json(&list);
            }
            let mut t = table(&["Pool", "Guests", "Storage", "Comment"]);
            for e in list {
                let vms: Vec<String> = e.vms.iter().map(u32::to_string).collect();
                t.add_row(vec![
                    e.poolid,
                    vms.join(","),
                    e.storage.join(","),
                    e.comment,
                ]);
            }
            outln!("{t}");
        }
    }
    Ok(())
}
