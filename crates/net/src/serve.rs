//! Serving an HTTP service (the API's router) and the framed and tunnel protocols over TLS on a bound listener.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::frames::{serve_connection, Handler, ALPN_FRAMES};
use crate::tunnel::{TunnelHandler, ALPN_TUNNEL};

/// The non-HTTP protocols a TLS listener serves, chosen by ALPN.
#[derive(Clone, Default)]
pub struct Protocols {
    /// Framed RPC (Raft, forwarded writes).
    pub frames: Option<Handler>,
    /// Raw tunnels (migration streams, disk copies, consoles).
    pub tunnel: Option<TunnelHandler>,
}

/// How long the listener pauses after a failed accept (out of file descriptors, say).
const ACCEPT_RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// How long a client may take to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections forever, each served on its own task: framed RPC when
/// the client negotiated it by ALPN and `frames` is given, a tunnel likewise,
/// HTTP/1.1 otherwise.
pub async fn serve_tls<S, B>(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    app: S,
    protocols: Protocols,
) where
    S: tower::Service<hyper::Request<hyper::body::Incoming>, Response = hyper::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(ACCEPT_RETRY_INTERVAL).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let protocols = protocols.clone();
        tokio::spawn(async move {
            let tls_stream =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let alpn = tls_stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            match (alpn.as_deref(), protocols.frames, protocols.tunnel) {
                (Some(ALPN_FRAMES), Some(handler), _) => {
                    serve_connection(tls_stream, handler).await;
                    return;
                }
                (Some(ALPN_TUNNEL), _, Some(handler)) => {
                    crate::tunnel::serve(Box::new(tls_stream), handler).await;
                    return;
                }
                _ => {}
            }
            let service = TowerToHyperService::new(WithPeer { inner: app, peer });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls_stream), service)
                .with_upgrades()
                .await
            {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
}

/// The client's address, a request extension of every HTTP request served here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Puts [`PeerAddr`] on each request before the app sees it.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: std::net::SocketAddr,
}

impl<S, B> tower::Service<hyper::Request<B>> for WithPeer<S>
where
    S: tower::Service<hyper::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: hyper::Request<B>) -> Self::Future {
        req.extensions_mut().insert(PeerAddr(self.peer));
        self.inner.call(req)
    }
}
