//! `GET /nodes/{node}/qemu/{vmid}/console/ws`: the VM's serial port over a websocket, for
//! the web UI's terminal (xterm.js). The same plumbing as the raw console: its serial
//! socket here, or the mTLS tunnel to the node that runs it; VM.Console checked there too.

use brigade_access::requirement::Requirement;
use brigade_access::Privilege as P;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use brigade_access::Authid;
use brigade_core::VmId;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ApiError;
use crate::error::NodeError;
use crate::node::Node;

/// The bytes buffered between the websocket and the console stream, each way.
const BRIDGE_BUFFER_BYTES: usize = 16 * 1024;

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] = &[(
    "GET",
    "/nodes/{node}/qemu/{vmid}/console/ws",
    Requirement::perm("/vms/{vmid}", &[P::VmConsole]),
)];

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/nodes/{node}/qemu/{vmid}/console/ws", get(console_ws))
}

/// A browser sends the ticket cookie with a websocket from any page: only a page of this
/// node (the same origin) may open one. Clients that are not browsers send no Origin.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin = origin.to_str().unwrap_or_default();
    if origin.strip_prefix("https://") == Some(host) {
        Ok(())
    } else {
        Err(ApiError(NodeError::Forbidden(format!(
            "a console websocket from origin {origin:?} is refused: only pages of https://{host} may open one"
        ))))
    }
}

async fn console_ws(
    State(node): State<Arc<Node>>,
    Extension(caller): Extension<Authid>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    same_origin(&headers)?;
    let (name, vmid) = super::console::may_attach(&node, &caller, name, &id).await?;
    let ws = ws.map_err(|e| {
        ApiError(NodeError::Invalid(format!(
            "the console needs a websocket upgrade: {e}"
        )))
    })?;
    Ok(ws.on_upgrade(move |socket| async move {
        if let Err(e) = bridge(&node, &name, vmid, socket).await {
            tracing::debug!(vmid = vmid.get(), "console websocket ended: {e}");
        }
    }))
}

/// Pipes the console of VM `vmid` on `name` to `socket` until either side ends: its
/// output as binary messages, the browser's keys (binary or text) to it.
async fn bridge(node: &Node, name: &str, vmid: VmId, socket: WebSocket) -> Result<(), NodeError> {
    let (ours, theirs) = tokio::io::duplex(BRIDGE_BUFFER_BYTES);
    let (mut from_console, mut to_console) = tokio::io::split(ours);
    let (mut to_browser, mut from_browser) = socket.split();
    let output = async {
        let mut buf = vec![0u8; BRIDGE_BUFFER_BYTES];
        loop {
            let n = from_console.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            let chunk = axum::body::Bytes::copy_from_slice(&buf[..n]);
            if to_browser.send(Message::Binary(chunk)).await.is_err() {
                return;
            }
        }
    };
    let input = async {
        while let Some(Ok(m)) = from_browser.next().await {
            let bytes = match m {
                Message::Binary(b) => b,
                Message::Text(t) => axum::body::Bytes::copy_from_slice(t.as_str().as_bytes()),
                Message::Close(_) => return,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if to_console.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        r = node.pipe_console(name, vmid, theirs) => r,
        () = output => Ok(()),
        () = input => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).expect("host"));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).expect("origin"));
        }
        h
    }

    #[test]
    fn only_the_nodes_own_pages_may_open_a_console_websocket() {
        let host = "10.0.0.1:8006";
        assert!(
            same_origin(&headers(host, None)).is_ok(),
            "a non-browser client"
        );
        assert!(same_origin(&headers(host, Some("https://10.0.0.1:8006"))).is_ok());
        for foreign in [
            "https://elsewhere.example",
            "http://10.0.0.1:8006",
            "https://10.0.0.1:8007",
            "https://10.0.0.2:8006",
            "null",
        ] {
            let e = same_origin(&headers(host, Some(foreign))).expect_err(foreign);
            assert_eq!(e.0.status(), 403, "{foreign}");
        }
    }
}
