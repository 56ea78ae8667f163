//! `brigade login` / `brigade logout`: a ticket for the node, stored 0600 for later commands.
//!
//! Tickets live in `$XDG_RUNTIME_DIR/brigade/tickets.json` (else `~/.cache/brigade/`), one per
//! node URL; a command without `--api-token` uses the one of its node while it is valid (2 h).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;

use brigade_client::Ticket;

use crate::connect::{anonymous_client, endpoint, GlobalArgs};
use crate::output::print_json;

/// How long a ticket is valid (the node refuses it after that).
const TICKET_LIFETIME_SECS: u64 = 2 * 3600;
/// The file holding the tickets, in the ticket directory.
const TICKETS_FILE: &str = "tickets.json";

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The user, `name@realm` (pam: the machine's accounts; pve: brigade's own users).
    #[arg(long, default_value = "root@pam")]
    pub user: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// The TOTP code (or a recovery code) when the user has a second factor.
    #[arg(long)]
    pub otp: Option<String>,
}

fn ticket_dir() -> anyhow::Result<PathBuf> {
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(run).join("brigade"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("neither XDG_RUNTIME_DIR nor HOME is set: nowhere to keep the ticket")?;
    Ok(PathBuf::from(home).join(".cache").join("brigade"))
}

fn load() -> BTreeMap<String, Ticket> {
    ticket_dir()
        .ok()
        .and_then(|d| std::fs::read(d.join(TICKETS_FILE)).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(tickets: &BTreeMap<String, Ticket>) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = ticket_dir()?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(TICKETS_FILE);
    let tmp = dir.join(format!("{TICKETS_FILE}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(&serde_json::to_vec_pretty(tickets)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// When the ticket was made (its `HEXTIME` field), if it has the ticket shape.
fn ticket_time(ticket: &str) -> Option<u64> {
    let (signed, _) = ticket.split_once("::")?;
    let (_, hex) = signed.rsplit_once(':')?;
    u64::from_str_radix(hex, 16).ok()
}

/// The stored, still valid ticket for the node at `url`.
pub fn stored_ticket(url: &str) -> Option<Ticket> {
    let t = load().remove(url)?;
    let made = ticket_time(&t.ticket)?;
    let now = brigade_core::unix_now_secs();
    (now.saturating_sub(made) < TICKET_LIFETIME_SECS).then_some(t)
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        eprint!("Password: ");
        let _ = std::io::stderr().flush();
        let _ = std::process::Command::new("stty").arg("-echo").status();
        let mut line = String::new();
        let read = stdin.lock().read_line(&mut line);
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
        read.context("cannot read the password")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !from_stdin {
        bail!("no password: pass --password-stdin and give it on standard input");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn login(g: &GlobalArgs, a: LoginArgs) -> anyhow::Result<()> {
    let (client, url) = anonymous_client(g)?;
    let password = read_password(a.password_stdin)?;
    let ticket = client
        .login(&a.user, &password, a.otp.as_deref())
        .await
        .with_context(|| format!("login of {} at {url} failed", a.user))?;
    let mut all = load();
    all.insert(url.clone(), ticket.clone());
    let path = save(&all)?;
    if g.json() {
        print_json(&serde_json::json!({
            "username": ticket.username,
            "node": url,
            "ticket_file": path,
        }))?;
    } else {
        outln!(
            "logged in as {} at {url} (ticket valid 2 h, kept in {})",
            ticket.username,
            path.display()
        );
    }
    Ok(())
}

pub fn logout(g: &GlobalArgs) -> anyhow::Result<()> {
    let (url, _, _) = endpoint(g)?;
    let mut all = load();
    let had = all.remove(&url).is_some();
    save(&all)?;
    if g.json() {
        print_json(&serde_json::json!({ "node": url, "logged_out": had }))?;
    } else if had {
        outln!("logged out of {url}");
    } else {
        outln!("no ticket for {url}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticket_time_is_read_from_its_hex_field() {
        assert_eq!(
            ticket_time("BRIGADE:alice@pve:6B49D200::c2ln"),
            Some(0x6B49_D200)
        );
        assert_eq!(ticket_time("garbage"), None);
    }
}
