//! The receiving end of tunnels: migration streams into the incoming QEMU, volume
//! copies into a storage, consoles onto a guest's serial socket.

use std::sync::Arc;

use brigade_guest::VolumeId;
use brigade_net::tunnel::{self, TunnelHandler, TunnelStream};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::node::Node;

/// The tunnel handler of the RPC port.
pub fn tunnel_handler(node: Arc<Node>) -> TunnelHandler {
    Arc::new(move |header, stream| {
        let node = node.clone();
        Box::pin(async move { node.serve_tunnel(header, stream).await })
    })
}

fn vmid_of(header: &Value) -> Option<u32> {
    header
        .get("vmid")
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| brigade_core::VmId::try_from(*v).is_ok())
}

impl Node {
    async fn serve_tunnel(self: Arc<Self>, header: Value, mut stream: TunnelStream) {
        let kind = header.get("kind").and_then(Value::as_str).unwrap_or("");
        let result = match (kind, vmid_of(&header)) {
            ("migrate", Some(v)) => {
                self.pipe_to_socket(&mut stream, &self.guests.run.migrate_in(v))
                    .await
            }
            ("console", Some(v)) => {
                self.pipe_to_socket(&mut stream, &self.guests.run.serial(v))
                    .await
            }
            ("volume", _) => {
                let outcome = self.receive_volume(&header, &mut stream).await;
                let reply = match &outcome {
                    Ok(_) => "ok\n".to_string(),
                    Err(e) => format!("error: {e}\n"),
                };
                let _ = stream.get_mut().write_all(reply.as_bytes()).await;
                let _ = stream.get_mut().flush().await;
                outcome.map(|_| ())
            }
            _ => Err(format!("unknown tunnel header {header}")),
        };
        if let Err(e) = result {
            tracing::warn!("tunnel {kind}: {e}");
        }
    }

    async fn pipe_to_socket(
        &self,
        stream: &mut TunnelStream,
        path: &std::path::Path,
    ) -> Result<(), String> {
        let mut sock = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
        tokio::io::copy_bidirectional(stream, &mut sock)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Unpacks a volume sent with tar into this node's storage; never overwrites one.
    async fn receive_volume(
        &self,
        header: &Value,
        stream: &mut TunnelStream,
    ) -> Result<u64, String> {
        let storage = header.get("storage").and_then(Value::as_str).unwrap_or("");
        let name = header.get("name").and_then(Value::as_str).unwrap_or("");
        let vol = VolumeId::parse(&format!("{storage}:{name}")).map_err(|e| e.to_string())?;
        let (scfg, _) = self.storage_cfg().map_err(|e| e.to_string())?;
        let (s, path) = self
            .resolve_volume(&scfg, &vol)
            .map_err(|e| e.to_string())?;
        if path.exists() {
            return Err(format!(
                "volume {vol} already exists on {}",
                self.config.name
            ));
        }
        let images = self.storage_root(&s).join("images");
        std::fs::create_dir_all(&images)
            .map_err(|e| format!("cannot create {}: {e}", images.display()))?;
        let mut tar = tokio::process::Command::new("tar")
            .arg("-C")
            .arg(&images)
            .args(["-xf", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run tar: {e}"))?;
        let mut input = tar.stdin.take().ok_or("tar has no stdin")?;
        let received = tunnel::receive_chunked(stream, &mut input).await;
        drop(input);
        let out = tar.wait_with_output().await.map_err(|e| e.to_string())?;
        let received = received.map_err(|e| {
            let _ = brigade_guest::storage::free_volume(&path);
            format!("stream broke: {e}")
        })?;
        if !out.status.success() || !path.exists() {
            let _ = brigade_guest::storage::free_volume(&path);
            return Err(format!(
                "tar failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(received)
    }
}

impl Node {
    /// Pipes an attached client to VM `vmid`'s serial port on `node` (here or through a tunnel).
    pub async fn pipe_console<S>(
        &self,
        node: &str,
        vmid: brigade_core::VmId,
        mut client: S,
    ) -> Result<(), String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        if node == self.config.name.as_str() {
            let path = self.guests.run.serial(vmid.get());
            let mut sock = tokio::net::UnixStream::connect(&path)
                .await
                .map_err(|e| format!("cannot attach to {}: {e}", path.display()))?;
            tokio::io::copy_bidirectional(&mut client, &mut sock)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
        let rt = self.require_cluster().map_err(|e| e.to_string())?;
        let addr = self.peer_rpc(rt, node).await.map_err(|e| e.to_string())?;
        let header = serde_json::json!({ "kind": "console", "vmid": vmid.get() });
        let mut remote = tunnel::connect(
            addr,
            Some(self.config.address),
            rt.client_tls.clone(),
            &header,
        )
        .await
        .map_err(|e| e.to_string())?;
        tokio::io::copy_bidirectional(&mut client, &mut remote)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}
