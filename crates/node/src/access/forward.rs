//! The caller's identity on a request forwarded to another node, sealed with a key derived
//! from priv/authkey (`brigade_access::forwarded`), and opened on the receiving node.

use brigade_access::forwarded::ForwardError;
use brigade_access::Authid;

use super::now;
use crate::error::NodeError;
use crate::node::Node;

pub use brigade_access::forwarded::FORWARDED_IDENTITY_HEADER;

impl Node {
    /// The header value carrying `caller` with a request of this body.
    pub fn seal_identity(&self, caller: &Authid, body: &[u8]) -> Result<String, NodeError> {
        let st = self.access_state();
        let key = st.seal.as_ref().ok_or_else(|| {
            NodeError::Unavailable("no cluster key yet: cannot forward the request".into())
        })?;
        Ok(key.seal(caller, body, now()))
    }

    /// The identity of a forwarded request; an altered, foreign or stale seal is refused.
    pub fn open_identity(&self, header: Option<&str>, body: &[u8]) -> Result<Authid, NodeError> {
        let st = self.access_state();
        let key = st.seal.as_ref().ok_or_else(|| {
            NodeError::Unavailable("no cluster key yet: cannot accept forwarded requests".into())
        })?;
        key.open(header, body, now()).map_err(|e| {
            let why = match e {
                ForwardError::Stale => format!(
                    "{e} (more than {} s old: are the nodes' clocks in sync?)",
                    brigade_access::forwarded::FORWARD_MAX_AGE_SECS
                ),
                other => other.to_string(),
            };
            tracing::warn!("forwarded request refused: {why}");
            NodeError::Unauthorized(format!("forwarded request refused: {why}"))
        })
    }
}
