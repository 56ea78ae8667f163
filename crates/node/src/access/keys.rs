//! The cluster's ticket keys and CSRF secret: made by the first login, rotated every 24 h by
//! a compare-and-swap write, so exactly one node's rotation lands however many try at once.

use std::sync::Arc;

use rand::RngCore;

use brigade_access::csrf::CsrfSecret;
use brigade_access::files;
use brigade_access::ticket_keys::{TicketKeys, KEY_MIN_BYTES};
use brigade_cfs::{CfsError, Op};

use super::{now, read_file};
use crate::error::NodeError;
use crate::node::{cfs_path, ClusterRuntime, Node};

/// How often a key write is retried after losing a race to another node.
const KEY_WRITE_ATTEMPTS: usize = 3;

fn random_secret() -> Vec<u8> {
    let mut s = vec![0u8; KEY_MIN_BYTES];
    rand::thread_rng().fill_bytes(&mut s);
    s
}

/// The keys to write, if any: new ones, a rotation, or None when the file is current.
pub fn next_keys(current: Option<&TicketKeys>, now: u64) -> Result<Option<TicketKeys>, NodeError> {
    let next = match current {
        None => TicketKeys::new(&random_secret(), now),
        Some(k) if k.needs_rotation(now) => k.rotated(&random_secret(), now),
        Some(_) => return Ok(None),
    };
    next.map(Some).map_err(NodeError::internal)
}

async fn cas_write(
    rt: &ClusterRuntime,
    path: &str,
    data: Vec<u8>,
    version: u64,
) -> Result<bool, NodeError> {
    let op = Op::Write {
        path: cfs_path(path)?,
        data,
        expect_version: Some(version),
        create_exclusive: version == 0,
    };
    match rt.cfs.propose(op).await {
        Ok(_) => Ok(true),
        Err(CfsError::VersionMismatch { .. } | CfsError::Exists { .. }) => Ok(false),
        Err(e) => Err(NodeError::Unavailable(format!(
            "cannot write {path} (logins need it): {e}"
        ))),
    }
}

impl Node {
    /// The ticket keys to sign with now, made or rotated first if due.
    pub async fn current_ticket_keys(self: &Arc<Self>) -> Result<TicketKeys, NodeError> {
        let rt = self.require_cluster()?.clone();
        for _ in 0..KEY_WRITE_ATTEMPTS {
            let (raw, version) = read_file(&rt.cfs, files::TICKET_KEYS);
            let parsed = if version == 0 {
                None
            } else {
                Some(
                    TicketKeys::parse(&String::from_utf8_lossy(&raw))
                        .map_err(NodeError::failed(files::TICKET_KEYS))?,
                )
            };
            let Some(next) = next_keys(parsed.as_ref(), now())? else {
                if let Some(k) = parsed {
                    return Ok(k);
                }
                continue;
            };
            if cas_write(&rt, files::TICKET_KEYS, next.write().into_bytes(), version).await? {
                tracing::info!(created = next.current.created, "ticket key rotated");
                return Ok(next);
            }
        }
        Err(NodeError::Unavailable(
            "the ticket keys changed under every attempt to rotate them; try again".into(),
        ))
    }

    /// The cluster's CSRF secret, made by the first login.
    pub async fn csrf_secret(self: &Arc<Self>) -> Result<CsrfSecret, NodeError> {
        let rt = self.require_cluster()?.clone();
        for _ in 0..KEY_WRITE_ATTEMPTS {
            let (raw, version) = read_file(&rt.cfs, files::CSRF_KEY);
            if version != 0 {
                return CsrfSecret::new(&raw).map_err(NodeError::failed(files::CSRF_KEY));
            }
            cas_write(&rt, files::CSRF_KEY, random_secret(), 0).await?;
        }
        Err(NodeError::Unavailable(
            "cannot create the CSRF secret; try again".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brigade_access::ticket_keys::KEY_LIFETIME_SECS;

    #[test]
    fn keys_are_made_once_and_rotated_daily() {
        let t0 = 1_800_000_000;
        let first = next_keys(None, t0).expect("ok").expect("new keys");
        assert_eq!(first.current.created, t0);
        assert!(first.previous.is_none());
        assert!(next_keys(Some(&first), t0 + KEY_LIFETIME_SECS - 1)
            .expect("ok")
            .is_none());
        let rotated = next_keys(Some(&first), t0 + KEY_LIFETIME_SECS)
            .expect("ok")
            .expect("rotated");
        assert_eq!(rotated.previous.as_ref(), Some(&first.current));
        assert_ne!(rotated.current, first.current);
    }
}
