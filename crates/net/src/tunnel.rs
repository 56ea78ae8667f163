//! The migration tunnel: a raw byte stream between two nodes over mutual TLS,
//! selected by ALPN on the RPC port. The first line is a JSON header saying
//! what the stream carries; the rest belongs to whoever handles it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;
use tokio_rustls::TlsConnector;

use brigade_core::VmId;
use serde::{Deserialize, Serialize};

use crate::frames::CONNECT_TIMEOUT;

/// The ALPN protocol name of the tunnel.
pub const ALPN_TUNNEL: &[u8] = b"brigade-tunnel/1";
/// Longest header line accepted.
pub const HEADER_MAX: u64 = 64 * 1024;
/// How long the peer may take to send its header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest chunk of a chunked stream.
pub const CHUNK_MAX: usize = 1024 * 1024;

/// A byte stream in both directions.
pub trait Duplex: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Duplex for T {}

/// A tunnel stream with its header read: buffered so no byte after the header is lost.
pub type TunnelStream = BufReader<Box<dyn Duplex>>;

/// What a tunnel carries: the JSON header line that opens it (`{"kind":"migrate","vmid":100}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TunnelHeader {
    /// A live migration stream into the incoming QEMU of guest `vmid`.
    Migrate {
        /// The guest.
        vmid: VmId,
    },
    /// An attached console on the serial port of guest `vmid`.
    Console {
        /// The guest.
        vmid: VmId,
    },
    /// A volume sent with tar into `storage` under `name`.
    Volume {
        /// The storage id on the receiving node.
        storage: String,
        /// The volume's name in that storage.
        name: String,
    },
}

/// Serves one tunnel: its header and the stream after it.
pub type TunnelHandler =
    Arc<dyn Fn(TunnelHeader, TunnelStream) -> BoxFuture<'static, ()> + Send + Sync>;

/// Reads the header line and hands the stream to `handler`.
pub async fn serve(stream: Box<dyn Duplex>, handler: TunnelHandler) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let read = tokio::time::timeout(
        HEADER_TIMEOUT,
        (&mut reader).take(HEADER_MAX).read_line(&mut line),
    )
    .await;
    match read {
        Ok(Ok(n)) if n > 0 && line.ends_with('\n') => {}
        _ => {
            tracing::debug!("tunnel: no valid header line");
            return;
        }
    }
    match serde_json::from_str(&line) {
        Ok(header) => handler(header, reader).await,
        Err(e) => {
            let _ = reader
                .get_mut()
                .write_all(format!("error: bad tunnel header: {e}\n").as_bytes())
                .await;
        }
    }
}

/// Opens a tunnel to `addr` from `local` and sends `header`.
pub async fn connect(
    addr: SocketAddr,
    local: Option<IpAddr>,
    mut tls: ClientConfig,
    header: &TunnelHeader,
) -> std::io::Result<Box<dyn Duplex>> {
    tls.alpn_protocols = vec![ALPN_TUNNEL.to_vec()];
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }?;
    if let Some(ip) = local {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let timed_out = || {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("connect to {addr} timed out"),
        )
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(addr))
        .await
        .map_err(|_| timed_out())??;
    let _ = tcp.set_nodelay(true);
    let mut stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TlsConnector::from(Arc::new(tls)).connect(ServerName::IpAddress(addr.ip().into()), tcp),
    )
    .await
    .map_err(|_| timed_out())??;
    if stream.get_ref().1.alpn_protocol() != Some(ALPN_TUNNEL) {
        return Err(std::io::Error::other(format!(
            "{addr} does not offer the tunnel"
        )));
    }
    let mut line = serde_json::to_string(header)?;
    line.push('\n');
    stream.write_all(line.as_bytes()).await?;
    stream.flush().await?;
    Ok(Box::new(stream))
}

/// Writes one chunk of a chunked stream (`len` u32 big-endian, then bytes); empty ends it.
pub async fn write_chunk<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> std::io::Result<()> {
    w.write_all(&(data.len() as u32).to_be_bytes()).await?;
    w.write_all(data).await?;
    if data.is_empty() {
        w.flush().await?;
    }
    Ok(())
}

/// Reads one chunk; `None` at the end marker.
pub async fn read_chunk<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let len = r.read_u32().await? as usize;
    if len == 0 {
        return Ok(None);
    }
    if len > CHUNK_MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("chunk of {len} bytes exceeds {CHUNK_MAX}"),
        ));
    }
    let mut buf = vec![0; len];
    r.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

/// Copies `from` into `to` as a chunked stream, ending it; returns the bytes sent.
pub async fn send_chunked<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    from: &mut R,
    to: &mut W,
) -> std::io::Result<u64> {
    let mut buf = vec![0; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        write_chunk(to, &buf[..n]).await?;
        total += n as u64;
    }
    write_chunk(to, &[]).await?;
    Ok(total)
}

/// Copies a chunked stream from `from` into `to` until its end marker; returns the bytes.
pub async fn receive_chunked<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    from: &mut R,
    to: &mut W,
) -> std::io::Result<u64> {
    let mut total = 0u64;
    while let Some(chunk) = read_chunk(from).await? {
        to.write_all(&chunk).await?;
        total += chunk.len() as u64;
    }
    to.flush().await?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_their_wire_form_and_bad_ones_are_refused() {
        let vmid = VmId::try_from(100).expect("vmid");
        let h = TunnelHeader::Migrate { vmid };
        let line = serde_json::to_string(&h).expect("encode");
        assert_eq!(line, r#"{"kind":"migrate","vmid":100}"#);
        let v: TunnelHeader = serde_json::from_str(
            r#"{"kind":"volume","storage":"local","name":"vm-100-disk-0.qcow2"}"#,
        )
        .expect("decode");
        assert_eq!(
            v,
            TunnelHeader::Volume {
                storage: "local".into(),
                name: "vm-100-disk-0.qcow2".into()
            }
        );
        for bad in [
            r#"{"kind":"console","vmid":7}"#,
            r#"{"kind":"teleport"}"#,
            r#"{"vmid":100}"#,
        ] {
            assert!(serde_json::from_str::<TunnelHeader>(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn chunked_streams_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            let mut src = &sent[..];
            send_chunked(&mut src, &mut a).await.expect("send")
        });
        let mut out = Vec::new();
        let got = receive_chunked(&mut b, &mut out).await.expect("receive");
        assert_eq!(writer.await.expect("join"), got);
        assert_eq!(out, data);
    }

    #[tokio::test]
    async fn an_oversized_chunk_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(64);
        tokio::spawn(async move {
            let _ = a.write_all(&(u32::MAX).to_be_bytes()).await;
        });
        assert!(read_chunk(&mut b).await.is_err());
    }
}
