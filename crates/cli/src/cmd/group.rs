//! `brigade group ...`: groups of users (like `pveum group`).

use anyhow::Context as _;
use brigade_api::access::GroupRequest;
use clap::Subcommand;

use crate::connect::{client, GlobalArgs};
use crate::output::{print_json, table};

#[derive(Subcommand, Debug)]
#[command(after_help = "Examples:
  brigade group add devs --comment Developers
  brigade user modify alice@pve --groups devs --append 1
  brigade acl set /pool/team-a --roles PVEVMUser --groups devs
  brigade group list")]
pub enum GroupCmd {
    /// Make a group (needs Group.Allocate on /access/groups).
    Add {
        groupid: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Change a group's comment (members change with `brigade user modify --groups`).
    Modify {
        groupid: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Remove a group; its ACL entries go too.
    Delete { groupid: String },
    /// The groups you may see, with their members.
    List,
}

pub async fn run(g: &GlobalArgs, cmd: GroupCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        GroupCmd::Add { groupid, comment } => {
            let req = GroupRequest {
                groupid: Some(groupid.clone()),
                comment,
            };
            let out = c
                .group_create(&req)
                .await
                .with_context(|| format!("cannot add group {groupid}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("group {groupid} added");
        }
        GroupCmd::Modify { groupid, comment } => {
            let req = GroupRequest {
                groupid: None,
                comment,
            };
            let out = c
                .group_update(&groupid, &req)
                .await
                .with_context(|| format!("cannot change group {groupid}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("group {groupid} changed");
        }
        GroupCmd::Delete { groupid } => {
            c.group_delete(&groupid)
                .await
                .with_context(|| format!("cannot delete group {groupid}"))?;
            if g.json() {
                return print_json(&serde_json::json!({ "removed": groupid }));
            }
            outln!("group {groupid} deleted");
        }
        GroupCmd::List => {
            let list = c.groups().await?;
            if g.json() {
                return print_json(&list);
            }
            let mut t = table(&["Group", "Members", "Comment"]);
            for e in list {
                t.add_row(vec![e.groupid, e.members.join(","), e.comment]);
            }
            outln!("{t}");
        }
    }
    Ok(())
}
