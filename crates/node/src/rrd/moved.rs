//! A guest's graph history follows it: after a migration the node it left sends its
//! history to the node it runs on now, which joins it under what it sampled since.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::Json;
use brigade_api::ErrorBody;
use brigade_core::layout::GuestKind;
use serde_json::Value;

use super::{RrdService, Subject};
use crate::error::NodeError;
use crate::node::Node;

/// The peer route that takes a guest's history from the node it left.
pub const HISTORY_ROUTE: &str = "/node/rrd/{kind}/{vmid}";

/// How long sending a history to the guest's new node may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

impl RrdService {
    /// The encoded history of `s`, if this node has one.
    pub fn export(&self, s: Subject) -> Option<Vec<u8>> {
        let mut inner = self.lock();
        if !inner.stores.contains_key(&s) && !self.dir.join(s.file_name()).exists() {
            return None;
        }
        Some(brigade_rrd::format::encode(self.store(&mut inner, s)))
    }

    /// Joins `bytes`, a history of `s` kept on another node, under this node's, and
    /// writes it at once. Bytes that are not a history of the same shape change nothing.
    pub fn import_older(&self, s: Subject, bytes: &[u8]) -> Result<(), NodeError> {
        let older = brigade_rrd::format::decode(bytes)
            .map_err(|e| NodeError::Invalid(format!("the graph history sent: {e}")))?;
        let mut inner = self.lock();
        self.store(&mut inner, s)
            .merge_older(&older)
            .map_err(|e| NodeError::Invalid(format!("the graph history sent: {e}")))?;
        inner.dirty.insert(s);
        self.flush_locked(&mut inner);
        Ok(())
    }

    /// Drops this node's history of `s` (its file too): it lives on another node now.
    pub fn forget(&self, s: Subject) {
        let mut inner = self.lock();
        inner.stores.remove(&s);
        inner.dirty.remove(&s);
        inner.prev.remove(&s);
        let path = self.dir.join(s.file_name());
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove graph history");
            }
        }
    }
}

/// `POST /node/rrd/{kind}/{vmid}` on the peer port: a history from the node the guest left.
pub(crate) async fn receive_history(
    State(node): State<Arc<Node>>,
    Path((kind, vmid)): Path<(GuestKind, u32)>,
    body: axum::body::Bytes,
) -> Json<Result<Value, ErrorBody>> {
    let joined = node
        .rrd
        .import_older(Subject::Guest(kind, vmid), &body)
        .map(|()| Value::Null);
    Json(joined.map_err(|e| ErrorBody::from(&e)))
}

impl Node {
    /// After `kind` `vmid` moved to `target`: sends its history there and drops it here
    /// once taken. A failure is logged and the history stays here.
    pub(crate) async fn send_history(self: &Arc<Self>, kind: GuestKind, vmid: u32, target: &str) {
        let s = Subject::Guest(kind, vmid);
        let Some(bytes) = self.rrd.export(s) else {
            return;
        };
        let sent = async {
            let rt = self.require_cluster()?.clone();
            let addr = self.peer_rpc(&rt, target).await?;
            let answer = rt
                .rpc_client
                .post(format!("https://{addr}/node/rrd/{kind}/{vmid}"))
                .timeout(SEND_TIMEOUT)
                .body(bytes)
                .send()
                .await;
            crate::rpc::peer_answer(target, answer).await
        };
        match sent.await {
            Ok(_) => self.rrd.forget(s),
            Err(e) => tracing::warn!(
                vmid,
                "the graph history of {kind} {vmid} stays on this node: sending it to {target} failed: {e}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rrd::sample::GuestLimits;
    use crate::rrd::GuestToSample;
    use brigade_rrd::{Cf, Timeframe};

    fn me(vmid: u32) -> GuestToSample {
        GuestToSample {
            kind: GuestKind::Qemu,
            vmid,
            pid: std::process::id() as i32,
            limits: GuestLimits {
                cpus: 1.0,
                mem_bytes: 1e9,
            },
        }
    }

    fn points(svc: &RrdService, s: Subject) -> usize {
        svc.query(s, Timeframe::Hour, Cf::Max)
            .iter()
            .filter(|r| r.maxmem.is_some())
            .count()
    }

    #[test]
    fn a_history_moves_to_the_new_node_and_leaves_the_old_one() {
        let (a, b) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let source = RrdService::new(a.path().to_path_buf());
        let target = RrdService::new(b.path().to_path_buf());
        let s = Subject::Guest(GuestKind::Qemu, 100);
        assert_eq!(source.export(s), None, "no history, nothing to send");
        source.sample(&[me(100)]);
        let bytes = source.export(s).expect("a history");
        target.import_older(s, &bytes).expect("joined");
        assert_eq!(points(&target, s), 1);
        assert!(b.path().join("qemu-100.rrd").exists(), "written at once");
        source.forget(s);
        assert!(!a.path().join("qemu-100.rrd").exists());
        assert_eq!(source.export(s), None);
        // Garbage or another shape changes nothing.
        assert!(target.import_older(s, b"BRRD garbage").is_err());
        let other = brigade_rrd::format::encode(&brigade_rrd::Rrd::new(&["cpu"]));
        assert!(target.import_older(s, &other).is_err());
        assert_eq!(points(&target, s), 1);
    }
}
