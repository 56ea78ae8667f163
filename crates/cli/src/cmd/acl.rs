//! `brigade acl ...`: who holds which role where (like `pveum acl`).

use anyhow::Context as _;
use brigade_api::access::AclUpdate;
use clap::{Args, Subcommand};

use crate::cmd::token::parse_bool01;
use crate::connect::{client, GlobalArgs};
use crate::output::{print_json, table};

#[derive(Subcommand, Debug)]
#[command(after_help = "Examples:
  brigade acl set /vms/100 --roles PVEVMUser --users alice@pve
  brigade acl set /pool/team-a --roles PVEVMAdmin --groups devs
  brigade acl set /vms/100 --roles PVEAuditor --tokens 'alice@pve!ci' --propagate 0
  brigade acl delete /vms/100 --roles PVEVMUser --users alice@pve
  brigade acl list

You can only grant (or remove) a role whose privileges you hold yourself on the path,
held with propagation when the entry propagates; root@pam may grant anything.")]
pub enum AclCmd {
    /// Give roles on a path to users, groups or tokens.
    Set(AclArgs),
    /// Take roles on a path away from users, groups or tokens.
    Delete(AclArgs),
    /// The entries on paths where you may change or audit ACLs.
    List,
}

#[derive(Args, Debug)]
pub struct AclArgs {
    /// The ACL path: /, /vms/ID, /storage/ID, /pool/ID, /nodes/NAME, /access/groups/ID, ...
    pub path: String,
    /// Roles, comma-separated.
    #[arg(long)]
    pub roles: String,
    /// Users, comma-separated (user@realm).
    #[arg(long)]
    pub users: Option<String>,
    /// Groups, comma-separated.
    #[arg(long)]
    pub groups: Option<String>,
    /// API tokens, comma-separated (user@realm!name).
    #[arg(long)]
    pub tokens: Option<String>,
    /// 1: the entry applies below the path too (default), 0: only on it.
    #[arg(long, value_parser = parse_bool01)]
    pub propagate: Option<bool>,
}

fn update(a: AclArgs, delete: bool) -> AclUpdate {
    AclUpdate {
        path: a.path,
        roles: a.roles,
        users: a.users,
        groups: a.groups,
        tokens: a.tokens,
        propagate: a.propagate,
        delete: Some(delete),
    }
}

pub async fn run(g: &GlobalArgs, cmd: AclCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        AclCmd::Set(a) => {
            let req = update(a, false);
            c.acl_update(&req)
                .await
                .with_context(|| format!("cannot set roles {} on {}", req.roles, req.path))?;
            if g.json() {
                return print_json(&req);
            }
            outln!("roles {} set on {}", req.roles, req.path);
        }
        AclCmd::Delete(a) => {
            let req = update(a, true);
            c.acl_update(&req)
                .await
                .with_context(|| format!("cannot remove roles {} on {}", req.roles, req.path))?;
            if g.json() {
                return print_json(&req);
            }
            outln!("roles {} removed on {}", req.roles, req.path);
        }
        AclCmd::List => {
            let list = c.acl().await?;
            if g.json() {
                return print_json(&list);
            }
            let mut t = table(&["Path", "Type", "User/Group/Token", "Role", "Propagate"]);
            for e in list {
                t.add_row(vec![
                    e.path,
                    e.kind,
                    e.ugid,
                    e.roleid,
                    u8::from(e.propagate).to_string(),
                ]);
            }
            outln!("{t}");
        }
    }
    Ok(())
}
