//! The task id in Proxmox's shape: `UPID:node:pid:pstart:starttime:type:id:user:` (pure).

use std::fmt;
use std::str::FromStr;

/// Longest task type, id or user accepted in a UPID.
const UPID_FIELD_MAX: usize = 128;

/// A task id. `pid` is the daemon's process id; `pstart` the task's sequence number in
/// that daemon (Proxmox has the task process's start time there: brigade runs tasks in
/// the daemon, so the counter is what makes two tasks of one second differ).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    /// Unix seconds when the task started.
    pub starttime: u64,
    /// `qmstart`, `vzmigrate`, `hastart`, `clusterjoin`, ...
    pub kind: String,
    /// What it works on: the guest's id, or empty.
    pub id: String,
    /// Who started it (an Authid: `root@pam`, `alice@pve!ci`).
    pub user: String,
}

/// Why a text is not a UPID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "malformed task id {text:?}: {why} (expected UPID:node:pid:pstart:starttime:type:id:user:)"
)]
pub struct UpidError {
    text: String,
    why: &'static str,
}

fn field_ok(s: &str, allow_empty: bool, extra: &[char]) -> bool {
    (allow_empty || !s.is_empty())
        && s.len() <= UPID_FIELD_MAX
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// A user (an Authid: `alice@pve!ci`, maybe with non-ASCII letters): no field separator,
/// path separator, space or control character.
fn user_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= UPID_FIELD_MAX
        && s.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != ':' && c != '/')
}
/// Characters allowed in a task's id besides letters and digits.
const ID_CHARS: [char; 3] = ['.', '_', '-'];

impl Upid {
    /// Checks the fields a UPID is made of (they become a file name and a text).
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.node.parse::<brigade_core::NodeName>().is_err() {
            return Err("bad node name");
        }
        if !field_ok(&self.kind, false, &[]) {
            return Err("bad task type");
        }
        if !field_ok(&self.id, true, &ID_CHARS) {
            return Err("bad task id");
        }
        if !user_ok(&self.user) {
            return Err("bad user");
        }
        if self.starttime > u64::from(u32::MAX) * 16 || self.pstart > u64::from(u32::MAX) * 16 {
            return Err("time out of range");
        }
        Ok(())
    }

    /// The guest this task works on, when its id is one.
    pub fn vmid(&self) -> Option<u32> {
        self.id.parse().ok()
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.kind, self.id, self.user
        )
    }
}

fn hex(s: &str, text: &str, what: &'static str) -> Result<u64, UpidError> {
    if s.len() < 8 || s.len() > 9 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(UpidError {
            text: text.to_string(),
            why: what,
        });
    }
    u64::from_str_radix(s, 16).map_err(|_| UpidError {
        text: text.to_string(),
        why: what,
    })
}

impl FromStr for Upid {
    type Err = UpidError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |why| UpidError {
            text: text.chars().take(UPID_FIELD_MAX * 2).collect(),
            why,
        };
        let parts: Vec<&str> = text.split(':').collect();
        let [tag, node, pid, pstart, start, kind, id, user, end] = parts[..] else {
            return Err(err("wrong number of fields"));
        };
        if tag != "UPID" || !end.is_empty() {
            return Err(err("must start with UPID: and end with ':'"));
        }
        let pid = u32::try_from(hex(pid, text, "bad pid")?).map_err(|_| err("bad pid"))?;
        let upid = Upid {
            node: node.to_string(),
            pid,
            pstart: hex(pstart, text, "bad pstart")?,
            starttime: hex(start, text, "bad start time")?,
            kind: kind.to_string(),
            id: id.to_string(),
            user: user.to_string(),
        };
        upid.validate().map_err(err)?;
        // One text per task: a UPID with other hex padding would name another file.
        if upid.to_string() != text {
            return Err(err("not in canonical form"));
        }
        Ok(upid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_proxmox_upid_parses() {
        let u: Upid = "UPID:n1:0000A1B2:00000003:65F0C0DE:qmigrate:100:root@pam:"
            .parse()
            .expect("parse");
        assert_eq!(
            (u.node.as_str(), u.pid, u.pstart, u.kind.as_str(), u.vmid()),
            ("n1", 0xA1B2, 3, "qmigrate", Some(100))
        );
        assert_eq!(u.user, "root@pam");
    }

    #[test]
    fn malformed_upids_are_refused_with_the_reason() {
        for bad in [
            "",
            "UPID:n1",
            "UPID:n1:0000A1B2:00000003:65F0C0DE:qmigrate:100:root@pam",
            "XPID:n1:0000A1B2:00000003:65F0C0DE:qmigrate:100:root@pam:",
            "UPID:N/1:0000A1B2:00000003:65F0C0DE:qmigrate:100:root@pam:",
            "UPID:n1:zz:00000003:65F0C0DE:qmigrate:100:root@pam:",
            "UPID:n1:0000A1B2:00000003:65F0C0DE:qm/igrate:100:root@pam:",
            "UPID:n1:0000A1B2:00000003:65F0C0DE:qmigrate:../x:root@pam:",
            "UPID:n1:0000a1b2:00000003:65F0C0DE:qmigrate:100:root@pam:",
        ] {
            let e = bad.parse::<Upid>().expect_err(bad);
            assert!(e.to_string().contains("malformed task id"), "{e}");
        }
    }

    proptest! {
        #[test]
        fn format_and_parse_round_trip(
            node in "[a-z][a-z0-9]{0,10}",
            pid in any::<u32>(),
            pstart in 0u64..=u64::from(u32::MAX),
            starttime in 0u64..=u64::from(u32::MAX),
            kind in "[a-z]{1,12}",
            id in "[0-9a-z_.-]{0,10}",
            user in "[a-zü+]{1,8}@[a-z]{2,6}(![a-z0-9]{1,6})?",
        ) {
            let u = Upid { node, pid, pstart, starttime, kind, id, user };
            let text = u.to_string();
            let back: Upid = text.parse().expect("round trip");
            prop_assert_eq!(back, u);
        }
    }
}
