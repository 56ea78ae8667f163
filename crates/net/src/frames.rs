//! A small pipelined request/response protocol over one mutual-TLS connection
//! per peer, selected by ALPN on the RPC port: cheaper than HTTP for Raft's
//! stream of small messages.
//!
//! Frame: `len: u32 | id: u64 | kind: u16 | flags: u16 | payload[len]`, big endian.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsConnector;

/// The ALPN protocol name of framed RPC.
pub const ALPN_FRAMES: &[u8] = b"brigade-raft/1";
/// Largest payload accepted in one frame.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;
/// How long to wait for a TCP + TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const HEADER: usize = 16;
const FLAG_ERROR: u16 = 1;
/// Frames queued for writing per connection.
const WRITE_QUEUE: usize = 1024;

/// Why a handler refused a request: any error, whose message (with its causes) goes back
/// to the caller, who sees it as [`CallError::Remote`].
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Answers one request kind with a payload, or an error.
pub type Handler =
    Arc<dyn Fn(u16, Bytes) -> BoxFuture<'static, Result<Bytes, HandlerError>> + Send + Sync>;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No connection could be made (the peer is down or cut off).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The connection broke or the call timed out.
    #[error("network: {0}")]
    Network(String),
    /// The peer answered with an error.
    #[error("remote: {0}")]
    Remote(String),
}

fn header(len: usize, id: u64, kind: u16, flags: u16) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..4].copy_from_slice(&(len as u32).to_be_bytes());
    h[4..12].copy_from_slice(&id.to_be_bytes());
    h[12..14].copy_from_slice(&kind.to_be_bytes());
    h[14..16].copy_from_slice(&flags.to_be_bytes());
    h
}

/// A frame to write: id, kind, flags, payload.
type OutFrame = (u64, u16, u16, Bytes);

/// Writes `first` and everything already queued behind it, then flushes once.
async fn write_batch<W: AsyncWriteExt + Unpin>(
    wr: &mut W,
    first: OutFrame,
    rx: &mut mpsc::Receiver<OutFrame>,
) -> std::io::Result<()> {
    let mut next = Some(first);
    while let Some((id, kind, flags, payload)) = next {
        wr.write_all(&header(payload.len(), id, kind, flags))
            .await?;
        wr.write_all(&payload).await?;
        next = rx.try_recv().ok();
    }
    wr.flush().await
}

async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R) -> std::io::Result<(u64, u16, u16, Bytes)> {
    let mut h = [0u8; HEADER];
    r.read_exact(&mut h).await?;
    let len = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes exceeds {MAX_FRAME}"
        )));
    }
    let id = u64::from_be_bytes([h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]]);
    let kind = u16::from_be_bytes([h[12], h[13]]);
    let flags = u16::from_be_bytes([h[14], h[15]]);
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok((id, kind, flags, Bytes::from(payload)))
}

/// Serves framed requests on an accepted, ALPN-selected TLS stream until it closes.
pub async fn serve_connection<S>(stream: S, handler: Handler)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<OutFrame>(WRITE_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if write_batch(&mut wr, first, &mut rx).await.is_err() {
                return;
            }
        }
    });
    loop {
        let Ok((id, kind, _, payload)) = read_frame(&mut rd).await else {
            break;
        };
        let (handler, tx) = (handler.clone(), tx.clone());
        tokio::spawn(async move {
            let (flags, body) = match handler(kind, payload).await {
                Ok(b) => (0, b),
                Err(e) => (
                    FLAG_ERROR,
                    Bytes::from(brigade_core::error::message_with_causes(e.as_ref()).into_bytes()),
                ),
            };
            let _ = tx.send((id, kind, flags, body)).await;
        });
    }
    drop(tx);
    let _ = writer.await;
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Bytes, CallError>>>>>;

struct Connection {
    tx: mpsc::Sender<OutFrame>,
    pending: Pending,
    /// Set when the reader saw the connection end (the peer restarted or closed it):
    /// the next call connects again instead of writing into a dead socket.
    lost: Arc<AtomicBool>,
}

impl Connection {
    fn usable(&self) -> bool {
        !self.tx.is_closed() && !self.lost.load(Ordering::Acquire)
    }
}

/// A client of one peer, reconnecting on demand; calls are pipelined on one connection.
pub struct FrameClient {
    addr: SocketAddr,
    local: Option<IpAddr>,
    tls: TlsConnector,
    server_name: ServerName<'static>,
    next_id: AtomicU64,
    conn: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

impl FrameClient {
    /// `tls` must trust the cluster CA and present this node's certificate.
    pub fn new(addr: SocketAddr, local: Option<IpAddr>, mut tls: ClientConfig) -> Self {
        tls.alpn_protocols = vec![ALPN_FRAMES.to_vec()];
        FrameClient {
            addr,
            local,
            tls: TlsConnector::from(Arc::new(tls)),
            server_name: ServerName::IpAddress(addr.ip().into()),
            next_id: AtomicU64::new(1),
            conn: tokio::sync::Mutex::new(None),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    async fn connect(&self) -> Result<Arc<Connection>, CallError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            if c.usable() {
                return Ok(c.clone());
            }
        }
        let socket = if self.addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| CallError::Unreachable(e.to_string()))?;
        if let Some(ip) = self.local {
            socket
                .bind(SocketAddr::new(ip, 0))
                .map_err(|e| CallError::Unreachable(format!("bind {ip}: {e}")))?;
        }
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(self.addr))
            .await
            .map_err(|_| CallError::Unreachable(format!("connect to {} timed out", self.addr)))?
            .map_err(|e| CallError::Unreachable(format!("connect to {}: {e}", self.addr)))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(
            CONNECT_TIMEOUT,
            self.tls.connect(self.server_name.clone(), tcp),
        )
        .await
        .map_err(|_| CallError::Unreachable(format!("TLS handshake with {} timed out", self.addr)))?
        .map_err(|e| CallError::Unreachable(format!("TLS handshake with {}: {e}", self.addr)))?;
        if tls.get_ref().1.alpn_protocol() != Some(ALPN_FRAMES) {
            return Err(CallError::Unreachable(format!(
                "{} does not speak framed RPC",
                self.addr
            )));
        }
        let (mut rd, mut wr) = tokio::io::split(tls);
        let (tx, mut rx) = mpsc::channel::<OutFrame>(WRITE_QUEUE);
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let fail_all = |pending: &Pending, why: &str| {
            let drained: Vec<_> = pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain()
                .collect();
            for (_, waiter) in drained {
                let _ = waiter.send(Err(CallError::Network(why.to_string())));
            }
        };
        let reader_pending = pending.clone();
        let lost = Arc::new(AtomicBool::new(false));
        let reader_lost = lost.clone();
        let reader = tokio::spawn(async move {
            loop {
                match read_frame(&mut rd).await {
                    Ok((id, _, flags, payload)) => {
                        let waiter = reader_pending
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&id);
                        if let Some(w) = waiter {
                            let r = if flags & FLAG_ERROR != 0 {
                                Err(CallError::Remote(
                                    String::from_utf8_lossy(&payload).into_owned(),
                                ))
                            } else {
                                Ok(payload)
                            };
                            let _ = w.send(r);
                        }
                    }
                    Err(e) => {
                        reader_lost.store(true, Ordering::Release);
                        fail_all(&reader_pending, &format!("connection lost: {e}"));
                        return;
                    }
                }
            }
        });
        let writer_pending = pending.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                if write_batch(&mut wr, first, &mut rx).await.is_err() {
                    break;
                }
            }
            reader.abort();
            fail_all(&writer_pending, "connection closed");
        });
        let c = Arc::new(Connection { tx, pending, lost });
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Sends one request and waits for its answer.
    pub async fn call(
        &self,
        kind: u16,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let conn = self.connect().await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        conn.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        if conn.tx.send((id, kind, 0, payload)).await.is_err() {
            conn.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            self.reset().await;
            return Err(CallError::Network("connection closed".into()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => {
                if matches!(r, Err(CallError::Network(_))) {
                    self.reset().await;
                }
                r
            }
            Ok(Err(_)) => {
                self.reset().await;
                Err(CallError::Network("connection closed".into()))
            }
            Err(_) => {
                conn.pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                // A silent peer (cut off by a firewall) never answers: start over next time.
                self.reset().await;
                Err(CallError::Network(format!(
                    "no answer from {} within {timeout:?}",
                    self.addr
                )))
            }
        }
    }

    /// Drops the current connection (the next call reconnects).
    pub async fn reset(&self) {
        *self.conn.lock().await = None;
    }
}
