//! The access files in the replicated tree, read together and written back together with a
//! compare-and-swap on each file's version, retried on a conflict so no edit is ever lost.

use brigade_access::files::{SHADOW_CFG, TFA_CFG, USER_CFG};
use brigade_access::shadow::ShadowCfg;
use brigade_access::tfa::TfaCfg;
use brigade_access::{parse_user_cfg, Authid, UserCfg};
use brigade_cfs::{CfsError, Op};
use brigade_core::layout::TOKENS_CFG;
use brigade_core::section_config;

use crate::error::NodeError;
use crate::node::{cfs_path, Node};

/// How often a change is re-applied to fresh files after another writer got in first.
pub const CAS_ATTEMPTS: usize = 20;

/// What the access files say, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessFiles {
    /// user.cfg (root@pam alone when the file does not exist).
    pub user: UserCfg,
    /// priv/token.cfg as text (section config of token secret hashes).
    pub tokens: String,
    /// priv/shadow.cfg.
    pub shadow: ShadowCfg,
    /// priv/tfa.cfg.
    pub tfa: TfaCfg,
}

/// The versions the files had when read (0: the file does not exist).
#[derive(Debug, Clone, Copy, Default)]
struct Versions {
    user: u64,
    tokens: u64,
    shadow: u64,
    tfa: u64,
}

fn read_text(node: &Node, path: &str) -> Result<(String, u64), NodeError> {
    let rt = node.require_cluster()?;
    match rt.cfs.read(&cfs_path(path)?) {
        Ok(f) => Ok((String::from_utf8_lossy(&f.data).into_owned(), f.version)),
        Err(CfsError::NotFound { .. }) => Ok((String::new(), 0)),
        Err(e) => Err(e.into()),
    }
}

fn broken(path: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::Conflict(format!(
        "{path} in the cluster tree is invalid ({e}); repair it with 'brigade fs write {path}'"
    ))
}

/// Parses user.cfg text (an empty or missing file is root@pam alone).
pub fn parse_user(text: &str) -> Result<UserCfg, NodeError> {
    if text.trim().is_empty() {
        return Ok(UserCfg::new());
    }
    parse_user_cfg(text).map_err(|e| broken(USER_CFG, e))
}

/// user.cfg from this node's replica.
pub fn read_user_cfg(node: &Node) -> Result<UserCfg, NodeError> {
    parse_user(&read_text(node, USER_CFG)?.0)
}

fn read_all(node: &Node) -> Result<(AccessFiles, Versions), NodeError> {
    let (user, vu) = read_text(node, USER_CFG)?;
    let (tokens, vt) = read_text(node, TOKENS_CFG)?;
    let (shadow, vs) = read_text(node, SHADOW_CFG)?;
    let (tfa, vf) = read_text(node, TFA_CFG)?;
    section_config::parse(&tokens).map_err(|e| broken(TOKENS_CFG, e))?;
    Ok((
        AccessFiles {
            user: parse_user(&user)?,
            tokens,
            shadow: ShadowCfg::parse(&shadow).map_err(|e| broken(SHADOW_CFG, e))?,
            tfa: TfaCfg::parse(&tfa).map_err(|e| broken(TFA_CFG, e))?,
        },
        Versions {
            user: vu,
            tokens: vt,
            shadow: vs,
            tfa: vf,
        },
    ))
}

/// All the access files from this node's replica.
pub fn read_files(node: &Node) -> Result<AccessFiles, NodeError> {
    Ok(read_all(node)?.0)
}

fn write_op(path: &str, text: String, version: u64) -> Result<Op, NodeError> {
    Ok(Op::Write {
        path: cfs_path(path)?,
        data: text.into_bytes(),
        expect_version: Some(version),
        create_exclusive: false,
    })
}

/// Drops the secrets of tokens that `before` had and `after` no longer has.
fn drop_removed_token_secrets(before: &UserCfg, after: &mut AccessFiles) -> Result<(), NodeError> {
    let gone: Vec<&Authid> = before
        .tokens
        .keys()
        .filter(|t| !after.user.tokens.contains_key(*t))
        .collect();
    if gone.is_empty() {
        return Ok(());
    }
    let mut sections = section_config::parse(&after.tokens).map_err(|e| broken(TOKENS_CFG, e))?;
    sections.retain(|s| !(s.kind == "token" && gone.iter().any(|t| t.to_string() == s.id)));
    after.tokens = section_config::write(&sections);
    Ok(())
}

/// The writes that turn `before` into `after`; user.cfg is checked by parsing it back, so a
/// change that would leave it unreadable or dangling is refused before anything is written.
fn ops_for(before: &AccessFiles, after: &AccessFiles, v: Versions) -> Result<Vec<Op>, NodeError> {
    let mut ops = Vec::new();
    if after.user != before.user {
        let text = after.user.write();
        parse_user_cfg(&text).map_err(|e| {
            NodeError::Invalid(format!(
                "refused: the change would leave user.cfg invalid ({e}); nothing was written"
            ))
        })?;
        ops.push(write_op(USER_CFG, text, v.user)?);
    }
    if after.tokens != before.tokens {
        ops.push(write_op(TOKENS_CFG, after.tokens.clone(), v.tokens)?);
    }
    if after.shadow != before.shadow {
        ops.push(write_op(SHADOW_CFG, after.shadow.write(), v.shadow)?);
    }
    if after.tfa != before.tfa {
        let text = after.tfa.write().map_err(NodeError::internal)?;
        ops.push(write_op(TFA_CFG, text, v.tfa)?);
    }
    Ok(ops)
}

/// Reads the access files, applies `change` and writes back what changed, all files in one
/// atomic batch guarded by their versions. When another writer changed one of them in
/// between, `change` runs again on the fresh files (it must not have effects of its own).
/// An error of `change` writes nothing.
pub async fn modify<R>(
    node: &Node,
    mut change: impl FnMut(&mut AccessFiles) -> Result<R, NodeError>,
) -> Result<R, NodeError> {
    let rt = node.require_cluster()?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (before, versions) = read_all(node)?;
        let mut after = before.clone();
        let out = change(&mut after)?;
        drop_removed_token_secrets(&before.user, &mut after)?;
        let ops = ops_for(&before, &after, versions)?;
        if ops.is_empty() {
            return Ok(out);
        }
        match rt.cfs.propose(Op::Batch { ops }).await {
            Ok(_) => return Ok(out),
            Err(CfsError::VersionMismatch { .. }) if attempt < CAS_ATTEMPTS => {
                // Another admin wrote first: catch this replica up (read index) and retry.
                match rt.cfs.read_consistent(&cfs_path(USER_CFG)?).await {
                    Ok(_) | Err(CfsError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brigade_access::{AclPath, AclSubject, TokenInfo, User};

    fn files() -> AccessFiles {
        AccessFiles {
            user: UserCfg::new(),
            tokens: String::new(),
            shadow: ShadowCfg::default(),
            tfa: TfaCfg::default(),
        }
    }

    fn versions() -> Versions {
        Versions {
            user: 7,
            tokens: 0,
            shadow: 3,
            tfa: 0,
        }
    }

    #[test]
    fn only_changed_files_are_written_each_guarded_by_its_version() {
        let before = files();
        assert!(ops_for(&before, &before, versions())
            .expect("ops")
            .is_empty());
        let mut after = before.clone();
        after
            .user
            .users
            .insert("alice@pve".parse().expect("id"), User::default());
        let ops = ops_for(&before, &after, versions()).expect("ops");
        match &ops[..] {
            [Op::Write {
                path,
                expect_version,
                ..
            }] => {
                assert_eq!(path.as_str(), USER_CFG);
                assert_eq!(*expect_version, Some(7));
            }
            other => panic!("expected one write of user.cfg: {other:?}"),
        }
    }

    #[test]
    fn a_dangling_user_cfg_is_refused_before_anything_is_written() {
        let before = files();
        let mut after = before.clone();
        after.user.acl.set(
            AclPath::vm(brigade_core::VmId::try_from(100).expect("vmid")),
            AclSubject::User("ghost@pve".parse().expect("id")),
            "PVEAuditor".parse().expect("role"),
            true,
        );
        let err = ops_for(&before, &after, versions()).expect_err("refused");
        assert!(
            matches!(&err, NodeError::Invalid(m) if m.contains("nothing was written")),
            "{err}"
        );
    }

    #[test]
    fn removed_tokens_lose_their_secrets_and_others_keep_theirs() {
        let root = crate::token::ApiToken::generate("root@pam!root");
        let ci = crate::token::ApiToken::generate("alice@pve!ci");
        let mut before = files();
        let alice: brigade_access::Userid = "alice@pve".parse().expect("id");
        before.user.users.insert(alice, User::default());
        before
            .user
            .tokens
            .insert("alice@pve!ci".parse().expect("id"), TokenInfo::default());
        let text = crate::token::tokens_cfg_add("", &root, "root").expect("add");
        before.tokens = crate::token::tokens_cfg_add(&text, &ci, "").expect("add");
        let mut after = before.clone();
        drop_removed_token_secrets(&before.user, &mut after).expect("nothing removed");
        assert_eq!(after.tokens, before.tokens);
        after.user.tokens.clear();
        drop_removed_token_secrets(&before.user, &mut after).expect("drop");
        assert!(!crate::token::tokens_cfg_verify(&after.tokens, &ci));
        // The cluster's root token lives only in token.cfg and stays.
        assert!(crate::token::tokens_cfg_verify(&after.tokens, &root));
    }
}
