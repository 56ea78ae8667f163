//! `brigade role ...`: roles (like `pveum role`); the built-in roles are read-only.

use anyhow::Context as _;
use brigade_api::access::RoleRequest;
use clap::Subcommand;

use crate::cmd::token::parse_bool01;
use crate::connect::{client, GlobalArgs};
use crate::output::{print_json, table};

#[derive(Subcommand, Debug)]
#[command(after_help = "Examples:
  brigade role add Operator --privs VM.Audit,VM.PowerMgmt,VM.Console
  brigade role modify Operator --privs VM.Migrate --append 1
  brigade acl set /vms/100 --roles Operator --users alice@pve
  brigade role list")]
pub enum RoleCmd {
    /// Make a custom role (needs Sys.Modify on /access).
    Add {
        roleid: String,
        /// Privileges, comma-separated (see `brigade role list` for their names).
        #[arg(long, default_value = "")]
        privs: String,
    },
    /// Replace a custom role's privileges (or add to them with --append 1).
    Modify {
        roleid: String,
        #[arg(long)]
        privs: Option<String>,
        #[arg(long, value_parser = parse_bool01)]
        append: Option<bool>,
    },
    /// Remove a custom role; the ACL entries giving it go too.
    Delete { roleid: String },
    /// Every role with its privileges (built-in ones marked).
    List,
}

pub async fn run(g: &GlobalArgs, cmd: RoleCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        RoleCmd::Add { roleid, privs } => {
            let req = RoleRequest {
                roleid: Some(roleid.clone()),
                privs: Some(privs),
                append: None,
            };
            let out = c
                .role_create(&req)
                .await
                .with_context(|| format!("cannot add role {roleid}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("role {roleid} added: {}", out.privs);
        }
        RoleCmd::Modify {
            roleid,
            privs,
            append,
        } => {
            let req = RoleRequest {
                roleid: None,
                privs,
                append,
            };
            let out = c
                .role_update(&roleid, &req)
                .await
                .with_context(|| format!("cannot change role {roleid}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("role {roleid}: {}", out.privs);
        }
        RoleCmd::Delete { roleid } => {
            c.role_delete(&roleid)
                .await
                .with_context(|| format!("cannot delete role {roleid}"))?;
            if g.json() {
                return print_json(&serde_json::json!({ "removed": roleid }));
            }
            outln!("role {roleid} deleted");
        }
        RoleCmd::List => {
            let list = c.roles().await?;
            if g.json() {
                return print_json(&list);
            }
            let mut t = table(&["Role", "Built-in", "Privileges"]);
            for e in list {
                t.add_row(vec![
                    e.roleid,
                    if e.special { "yes" } else { "no" }.into(),
                    e.privs,
                ]);
            }
            outln!("{t}");
        }
    }
    Ok(())
}
