//! `brigade token ...`: API tokens of a user (like `pveum user token`); the secret is
//! printed once, at `add`, and never stored in clear.

use anyhow::Context as _;
use brigade_api::access::TokenRequest;
use clap::Subcommand;

use crate::connect::{client, GlobalArgs};
use crate::output::{format_time, print_json, table};

#[derive(Subcommand, Debug)]
#[command(after_help = "Examples:
  brigade token add alice@pve ci --privsep 1 --expire 2027-01-01 --comment 'CI runner'
  brigade acl set /vms/100 --roles PVEVMUser --tokens 'alice@pve!ci'
  brigade --api-token 'alice@pve!ci=SECRET' vm list
  brigade token list alice@pve
  brigade token remove alice@pve ci")]
pub enum TokenCmd {
    /// Make a token USER!NAME; prints its secret once (only a hash is kept).
    ///
    /// A privilege-separated token (--privsep 1, the default) holds only what its own ACL
    /// entries give it AND its user holds; --privsep 0 holds exactly its user's privileges.
    Add {
        /// The owner, user@realm.
        userid: String,
        /// The token's name (letters, digits, '-', '_', '.').
        tokenid: String,
        /// 1: privilege-separated (default), 0: the user's privileges.
        #[arg(long, value_parser = parse_bool01)]
        privsep: Option<bool>,
        /// Expiry: YYYY-MM-DD (UTC midnight), seconds since the epoch, or 0 for never.
        #[arg(long, value_parser = parse_expire)]
        expire: Option<u64>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Change a token's expiry, privilege separation or comment.
    Modify {
        userid: String,
        tokenid: String,
        #[arg(long, value_parser = parse_bool01)]
        privsep: Option<bool>,
        #[arg(long, value_parser = parse_expire)]
        expire: Option<u64>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// A user's tokens (never their secrets).
    List { userid: String },
    /// Remove a token: it stops authenticating at once; its ACL entries go too.
    Remove { userid: String, tokenid: String },
}

/// `0`/`1` (as pveum) or `false`/`true`.
pub fn parse_bool01(s: &str) -> Result<bool, String> {
    match s {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!("{s:?}: use 1 or 0")),
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` (UTC midnight), seconds since the epoch, or `0` for never.
pub fn parse_expire(s: &str) -> Result<u64, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs);
    }
    let bad = || format!("{s:?}: use YYYY-MM-DD, seconds since the epoch, or 0 for never");
    let parts: Vec<i64> = s
        .split('-')
        .map(|p| p.parse::<i64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [y, m, d] = parts[..] else {
        return Err(bad());
    };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    u64::try_from(days_from_civil(y, m, d) * 86_400).map_err(|_| bad())
}

/// An expiry for people.
pub fn expire_text(secs: u64) -> String {
    if secs == 0 {
        "never".into()
    } else {
        format_time(secs)
    }
}

pub async fn run(g: &GlobalArgs, cmd: TokenCmd) -> anyhow::Result<()> {
    let c = client(g)?;
    match cmd {
        TokenCmd::Add {
            userid,
            tokenid,
            privsep,
            expire,
            comment,
        } => {
            let req = TokenRequest {
                expire,
                privsep,
                comment,
            };
            let out = c
                .token_create(&userid, &tokenid, &req)
                .await
                .with_context(|| format!("cannot add token {userid}!{tokenid}"))?;
            if g.json() {
                return print_json(&out);
            }
            let mut t = table(&["Key", "Value"]);
            t.add_row(vec!["full-tokenid".to_string(), out.full_tokenid.clone()]);
            t.add_row(vec!["value".to_string(), out.value.clone()]);
            t.add_row(vec![
                "privsep".to_string(),
                u8::from(out.info.privsep).to_string(),
            ]);
            t.add_row(vec!["expire".to_string(), expire_text(out.info.expire)]);
            outln!("{t}");
            eprintln!(
                "The secret is shown this once and is not stored: keep it now. Use it as --api-token '{}={}'.",
                out.full_tokenid, out.value
            );
        }
        TokenCmd::Modify {
            userid,
            tokenid,
            privsep,
            expire,
            comment,
        } => {
            let req = TokenRequest {
                expire,
                privsep,
                comment,
            };
            let out = c
                .token_update(&userid, &tokenid, &req)
                .await
                .with_context(|| format!("cannot change token {userid}!{tokenid}"))?;
            if g.json() {
                return print_json(&out);
            }
            outln!("token {userid}!{tokenid} changed");
        }
        TokenCmd::List { userid } => {
            let list = c.tokens(&userid).await?;
            if g.json() {
                return print_json(&list);
            }
            let mut t = table(&["Token", "Privsep", "Expire", "Comment"]);
            for e in list {
                t.add_row(vec![
                    e.tokenid,
                    u8::from(e.privsep).to_string(),
                    expire_text(e.expire),
                    e.comment,
                ]);
            }
            outln!("{t}");
        }
        TokenCmd::Remove { userid, tokenid } => {
            c.token_delete(&userid, &tokenid)
                .await
                .with_context(|| format!("cannot remove token {userid}!{tokenid}"))?;
            if g.json() {
                return print_json(
                    &serde_json::json!({ "removed": format!("{userid}!{tokenid}") }),
                );
            }
            outln!("token {userid}!{tokenid} removed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_dates() {
        assert_eq!(parse_expire("0"), Ok(0));
        assert_eq!(parse_expire("1970-01-02"), Ok(86_400));
        assert_eq!(parse_expire("2027-01-01"), Ok(1_798_761_600));
        assert!(parse_expire("2027-13-01").is_err());
        assert!(parse_expire("tomorrow").is_err());
        assert_eq!(format_time(1_798_761_600), "2027-01-01 00:00:00");
    }
}
