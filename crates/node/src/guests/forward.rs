//! Running a guest request on the node that holds the guest: forwarded over mTLS with
//! the caller's identity sealed, opened and checked again on the receiving node.

use std::sync::Arc;
use std::time::Duration;

use brigade_access::Authid;
use serde_json::Value;

use crate::access::forward::FORWARDED_IDENTITY_HEADER;
use crate::error::NodeError;
use crate::node::Node;
use brigade_api::guests::GuestRequest;

/// How long a forwarded guest request may take (a start waits for QEMU).
pub const GUEST_FORWARD_TIMEOUT: Duration = Duration::from_secs(120);
/// The cluster version the sender had applied; the receiver catches up first.
pub const MIN_VERSION_HEADER: &str = "x-brigade-min-version";
/// How long a receiver waits to catch up with the sender.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(2);

impl Node {
    /// Runs `req` on `node` for the node itself (root@pam): here, or forwarded to it.
    pub async fn guest_on(
        self: &Arc<Self>,
        node: &str,
        req: GuestRequest,
    ) -> Result<Value, NodeError> {
        self.guest_on_as(&crate::access::node_itself(), node, req)
            .await
    }

    /// Runs `req` on `node` for `caller`. Here, the caller's permissions for the request are
    /// checked first; forwarded, the caller's identity travels sealed
    /// ([`FORWARDED_IDENTITY_HEADER`]) and the target checks them again with its own copy
    /// of user.cfg.
    pub async fn guest_on_as(
        self: &Arc<Self>,
        caller: &Authid,
        node: &str,
        req: GuestRequest,
    ) -> Result<Value, NodeError> {
        if node == self.config.name.as_str() {
            self.check_guest_request(caller, &req)?;
            return self.handle_guest(req).await;
        }
        if let GuestRequest::Config { kind, vmid } = req {
            // The config is in the replicated tree: any node answers it, so it stays
            // readable while the node that holds the guest is down.
            self.check_guest_request(caller, &req)?;
            let l = self.guest_held_by(kind, vmid, node)?;
            return serde_json::to_value(self.guest_config(&l)?).map_err(NodeError::internal);
        }
        let rt = self.require_cluster()?.clone();
        let addr = self.peer_rpc(&rt, node).await?;
        let body = serde_json::to_vec(&req).map_err(NodeError::internal)?;
        let sealed = self.seal_identity(caller, &body)?;
        let sent = rt
            .rpc_client
            .post(format!("https://{addr}/node/guest"))
            .timeout(GUEST_FORWARD_TIMEOUT)
            // What this node has seen, the target sees too before acting.
            .header(MIN_VERSION_HEADER, rt.cfs.version().to_string())
            .header(FORWARDED_IDENTITY_HEADER, sealed)
            .header(
                crate::format_version::FORMATS_HEADER,
                crate::format_version::supported().header(),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        crate::rpc::peer_answer(node, sent).await
    }

    /// Refuses `req` unless `caller` may do it (a guest it may not see does not exist).
    pub fn check_guest_request(
        &self,
        caller: &Authid,
        req: &GuestRequest,
    ) -> Result<(), NodeError> {
        let st = self.access_state();
        let perms = brigade_access::Permissions::new(&st.users, crate::access::now());
        crate::access::guest_rules::check_guest_request(
            &perms,
            caller,
            self.config.name.as_str(),
            req,
        )
    }

    /// A guest request forwarded by another node: its sealed caller opened, then checked.
    pub async fn receive_guest(
        self: &Arc<Self>,
        identity: Option<&str>,
        body: &[u8],
    ) -> Result<Value, NodeError> {
        let caller = self.open_identity(identity, body)?;
        let req: GuestRequest = serde_json::from_slice(body)
            .map_err(|e| NodeError::Invalid(format!("invalid guest request: {e}")))?;
        self.check_guest_request(&caller, &req)?;
        // Tasks it starts here run for the caller.
        crate::tasks::caller::as_caller(caller.to_string(), self.handle_guest(req)).await
    }

    /// Runs `req` on `node`, giving up after `timeout` (the answer may still come).
    pub async fn guest_on_within(
        self: &Arc<Self>,
        node: &str,
        req: GuestRequest,
        timeout: Duration,
    ) -> Result<Value, NodeError> {
        tokio::time::timeout(timeout, self.guest_on(node, req))
            .await
            .unwrap_or_else(|_| {
                Err(NodeError::Upstream(format!(
                    "node {node} did not answer within {} ms",
                    timeout.as_millis()
                )))
            })
    }
}
