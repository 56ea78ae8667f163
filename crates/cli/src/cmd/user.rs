//! `brigade user ...`: users, their passwords and second factors (like `pveum user`).

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;
use brigade_api::access::{PasswordChange, TfaAdd, UserCreate, UserUpdate};
use clap::Subcommand;

use crate::cmd::token::{expire_text, parse_bool01, parse_expire};
use crate::connect::{client, GlobalArgs};
use crate::output::{print_json, table};

#[derive(Subcommand, Debug)]
#[command(after_help = "Examples:
  brigade user add alice@pve --password-stdin --groups devs --email alice@example.com < pw.txt
  brigade user add bob@pam                    # a Linux account of the nodes
  brigade user modify alice@pve --enable 0
  brigade user passwd alice@pve               # asks for the new password
  brigade user tfa add alice@pve              # prints the otpauth:// URI, asks for a first code
  brigade user tfa recovery alice@pve         # 10 single-use codes, printed once
  brigade user list")]
pub enum UserCmd {
    /// Make a user name@realm (realm pve: brigade's own passwords; pam: the nodes' accounts).
    Add {
        userid: String,
        /// Ask for a first password (pve realm only).
        #[arg(long)]
        password: bool,
        /// Read the first password from standard input (pve realm only).
        #[arg(long)]
        password_stdin: bool,
        /// Groups to join, comma-separated.
        #[arg(long)]
        groups: Option<String>,
        #[arg(long, value_parser = parse_bool01)]
        enable: Option<bool>,
        /// Expiry: YYYY-MM-DD (UTC midnight), seconds since the epoch, or 0 for never.
        #[arg(long, value_parser = parse_expire)]
        expire: Option<u64>,
        #[arg(long)]
        firstname: Option<String>,
        #[arg(long)]
        lastname: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Change a user's settings; --groups replaces its groups, or adds with --append 1.
    Modify {
        userid: String,
        #[arg(long)]
        groups: Option<String>,
        #[arg(long, value_parser = parse_bool01)]
        append: Option<bool>,
        #[arg(long, value_parser = parse_bool01)]
        enable: Option<bool>,
        #[arg(long, value_parser = parse_expire)]
        expire: Option<u64>,
        #[arg(long)]
        firstname: Option<String>,
        #[arg(long)]
        lastname: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Remove a user with its tokens, ACL entries, password and second factors.
    Delete { userid: String },
    /// The users you may see (always yourself).
    List,
    /// Set a pve user's password (asked twice on a terminal, or --password-stdin).
    Passwd {
        userid: String,
        #[arg(long)]
        password_stdin: bool,
        /// Your own current password (every caller but root@pam).
        #[arg(long)]
        confirmation_password: Option<String>,
    },
    /// Second factors: TOTP and recovery codes.
    #[command(subcommand)]
    Tfa(TfaCmd),
}

#[derive(Subcommand, Debug)]
pub enum TfaCmd {
    /// Enrol a TOTP: prints the secret and otpauth:// URI, then needs a first code of it.
    Add {
        userid: String,
        #[arg(long)]
        description: Option<String>,
        /// The first code (otherwise asked for).
        #[arg(long)]
        code: Option<String>,
    },
    /// Make 10 new recovery codes (replacing older ones); printed once.
    Recovery { userid: String },
    /// The second factors of the users you may change.
    List,
    /// Remove one factor (a TOTP id, or `recovery`), or all of them without --id.
    Delete {
        userid: String,
        #[arg(long)]
        id: Option<String>,
    },
}

/// Reads one line from standard input, without echo on a terminal.
fn read_secret(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if tty {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    if read? == 0 {
        anyhow::bail!("no password on standard input");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// The new password: from standard input, or asked twice on a terminal.
fn new_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        return read_secret("");
    }
    let first = read_secret("New password: ")?;
    let again = read_secret("Retype new password: ")?;
    if first != again {
        anyhow::bail!("the passwords differ; nothing changed");
    }
    Ok(first)
}

pub async fn run(g: &GlobalArgs, cmd: UserCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        UserCmd::Add {
            userid,
            password,
            password_stdin,
            groups,
            enable,
            expire,
            firstname,
            lastname,
            email,
            comment,
        } => {
            let password = if password || password_stdin {
                Some(new_password(password_stdin)?)
            } else {
                None
            };
            let req = UserCreate {
                userid: userid.clone(),
                password,
                enable,
                expire,
                firstname,
                lastname,
                email,
                comment,
                groups,
            };
            let out = c
                .user_create(&req)
                .await
                .with_context(|| format!("cannot add user {userid}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("user {userid} added");
        }
        UserCmd::Modify {
            userid,
            groups,
            append,
            enable,
            expire,
            firstname,
            lastname,
            email,
            comment,
        } => {
            let req = UserUpdate {
                enable,
                expire,
                firstname,
                lastname,
                email,
                comment,
                groups,
                append,
            };
            let out = c
                .user_update(&userid, &req)
                .await
                .with_context(|| format!("cannot change user {userid}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("user {userid} changed");
        }
        UserCmd::Delete { userid } => {
            c.user_delete(&userid)
                .await
                .with_context(|| format!("cannot delete user {userid}"))?;
            if g.json() {
                return print_json(&serde_json::json!({ "removed": userid }));
            }
            outln!("user {userid} deleted");
        }
        UserCmd::List => {
            let list = c.users().await?;
            if g.json() {
                return print_json(&list);
            }
            let mut t = table(&[
                "User", "Enabled", "Expire", "Groups", "Tokens", "Name", "E-mail",
            ]);
            for u in list {
                let tokens: Vec<String> = u.tokens.iter().map(|t| t.tokenid.clone()).collect();
                t.add_row(vec![
                    u.userid,
                    u8::from(u.enable).to_string(),
                    expire_text(u.expire),
                    u.groups.join(","),
                    tokens.join(","),
                    format!("{} {}", u.firstname, u.lastname).trim().to_string(),
                    u.email,
                ]);
            }
            outln!("{t}");
        }
        UserCmd::Passwd {
            userid,
            password_stdin,
            confirmation_password,
        } => {
            let password = new_password(password_stdin)?;
            let req = PasswordChange {
                userid: userid.clone(),
                password,
                confirmation_password,
            };
            c.password_change(&req)
                .await
                .with_context(|| format!("cannot change the password of {userid}"))?;
            if g.json() {
                return print_json(&serde_json::json!({ "userid": userid }));
            }
            outln!("password of {userid} changed");
        }
        UserCmd::Tfa(t) => return tfa(g, &c, t).await,
    }
    Ok(())
}

async fn tfa(g: &GlobalArgs, c: &brigade_client::Client, cmd: TfaCmd) -> anyhow::Result<()> {
    match cmd {
        TfaCmd::Add {
            userid,
            description,
            code,
        } => {
            let offer = c
                .tfa_add(
                    &userid,
                    &TfaAdd {
                        kind: "totp".into(),
                        description: description.clone(),
                        ..TfaAdd::default()
                    },
                )
                .await
                .with_context(|| format!("cannot add a TOTP for {userid}"))?;
            let secret = offer
                .secret
                .clone()
                .context("the node answered no TOTP secret")?;
            if !g.json() {
                outln!("secret: {secret}");
                outln!("uri:    {}", offer.uri.clone().unwrap_or_default());
                outln!("Add it to an authenticator app, then give its current code.");
            }
            let code = if let Some(c) = code {
                c
            } else {
                eprint!("Code: ");
                std::io::stderr().flush()?;
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                line.trim().to_string()
            };
            let done = c
                .tfa_add(
                    &userid,
                    &TfaAdd {
                        kind: "totp".into(),
                        description,
                        secret: Some(secret),
                        value: Some(code),
                    },
                )
                .await
                .with_context(|| format!("cannot confirm the TOTP of {userid}"))?;
            if g.json() {
                return print_json(&serde_json::json!({
                    "id": done.id, "secret": offer.secret, "uri": offer.uri, "confirmed": done.confirmed
                }));
            }
            outln!("TOTP {} enrolled for {userid}", done.id.unwrap_or_default());
        }
        TfaCmd::Recovery { userid } => {
            let out = c
                .tfa_add(
                    &userid,
                    &TfaAdd {
                        kind: "recovery".into(),
                        ..TfaAdd::default()
                    },
                )
                .await
                .with_context(|| format!("cannot make recovery codes for {userid}"))?;
            if g.json() {
                return print_json(&out);
            }
            for code in out.recovery.unwrap_or_default() {
                outln!("{code}");
            }
            eprintln!("These codes are shown this once; each works one time. Keep them safe.");
        }
        TfaCmd::List => {
            let list = c.tfa_list().await?;
            if g.json() {
                return print_json(&list);
            }
            let mut t = table(&["User", "TOTP", "Recovery codes left"]);
            for e in list {
                let ids: Vec<String> = e.totp.iter().map(|t| t.id.clone()).collect();
                t.add_row(vec![
                    e.userid,
                    ids.join(","),
                    e.recovery_remaining.to_string(),
                ]);
            }
            outln!("{t}");
        }
        TfaCmd::Delete { userid, id } => {
            c.tfa_delete(&userid, id.as_deref())
                .await
                .with_context(|| format!("cannot remove second factors of {userid}"))?;
            if g.json() {
                return print_json(&serde_json::json!({ "userid": userid, "removed": id }));
            }
            outln!("second factor(s) of {userid} removed");
        }
    }
    Ok(())
}
