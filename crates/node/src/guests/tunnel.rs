//! The receiving end of tunnels: migration streams into the incoming QEMU, volume
//! copies into a storage, consoles onto a guest's serial socket.

use std::sync::Arc;

use brigade_core::VmId;
use brigade_guest::VolumeId;
use brigade_net::tunnel::{self, TunnelHandler, TunnelHeader, TunnelStream};
use tokio::io::AsyncWriteExt;

use crate::error::NodeError;
use crate::node::Node;

/// The tunnel handler of the RPC port.
pub fn tunnel_handler(node: Arc<Node>) -> TunnelHandler {
    Arc::new(move |header, stream| {
        let node = node.clone();
        Box::pin(async move { node.serve_tunnel(header, stream).await })
    })
}

impl Node {
    async fn serve_tunnel(self: Arc<Self>, header: TunnelHeader, mut stream: TunnelStream) {
        let result = match &header {
            TunnelHeader::Migrate { vmid } => {
                self.pipe_to_socket(&mut stream, &self.guests.run.migrate_in(vmid.get()))
                    .await
            }
            TunnelHeader::Console { vmid } => {
                self.pipe_to_socket(&mut stream, &self.guests.run.serial(vmid.get()))
                    .await
            }
            TunnelHeader::Volume { storage, name } => {
                let outcome = self.receive_volume(storage, name, &mut stream).await;
                let reply = match &outcome {
                    Ok(_) => "ok\n".to_string(),
                    Err(e) => format!("error: {e}\n"),
                };
                let _ = stream.get_mut().write_all(reply.as_bytes()).await;
                let _ = stream.get_mut().flush().await;
                outcome.map(|_| ())
            }
        };
        if let Err(e) = result {
            tracing::warn!("tunnel {header:?}: {e}");
        }
    }

    async fn pipe_to_socket(
        &self,
        stream: &mut TunnelStream,
        path: &std::path::Path,
    ) -> Result<(), NodeError> {
        let mut sock = tokio::net::UnixStream::connect(path)
            .await
            .map_err(NodeError::failed(format!(
                "cannot connect to {}",
                path.display()
            )))?;
        tokio::io::copy_bidirectional_with_sizes(
            stream,
            &mut sock,
            super::migrate::MIGRATION_COPY_BUFFER,
            super::migrate::MIGRATION_COPY_BUFFER,
        )
        .await
        .map(|_| ())
        .map_err(NodeError::failed("tunnel stream broke"))
    }

    /// Unpacks a volume sent with tar into this node's storage; never overwrites one.
    async fn receive_volume(
        &self,
        storage: &str,
        name: &str,
        stream: &mut TunnelStream,
    ) -> Result<u64, NodeError> {
        let vol = VolumeId::parse(&format!("{storage}:{name}"))?;
        let (scfg, _) = self.storage_cfg()?;
        let (s, path) = self.resolve_volume(&scfg, &vol)?;
        if path.exists() {
            return Err(NodeError::Conflict(format!(
                "volume {vol} already exists on {}",
                self.config.name
            )));
        }
        let images = self.storage_root(&s).join("images");
        std::fs::create_dir_all(&images).map_err(NodeError::failed(format!(
            "cannot create {}",
            images.display()
        )))?;
        let mut tar = tokio::process::Command::new("tar")
            .arg("-C")
            .arg(&images)
            .args(["-xf", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(NodeError::failed("cannot run tar"))?;
        let mut input = tar
            .stdin
            .take()
            .ok_or_else(|| NodeError::internal("tar has no stdin"))?;
        let received = tunnel::receive_chunked(stream, &mut input).await;
        drop(input);
        let out = tar
            .wait_with_output()
            .await
            .map_err(NodeError::failed("tar"))?;
        let received = received.map_err(|e| {
            let _ = brigade_guest::storage::free_volume(&path);
            NodeError::peer("stream broke")(e)
        })?;
        if !out.status.success() || !path.exists() {
            let _ = brigade_guest::storage::free_volume(&path);
            return Err(NodeError::tool_failed("tar", &out));
        }
        Ok(received)
    }
}

impl Node {
    /// Pipes an attached client to VM `vmid`'s serial port on `node` (here or through a tunnel).
    pub async fn pipe_console<S>(
        &self,
        node: &str,
        vmid: VmId,
        mut client: S,
    ) -> Result<(), NodeError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        if node == self.config.name.as_str() {
            let path = self.guests.run.serial(vmid.get());
            let mut sock =
                tokio::net::UnixStream::connect(&path)
                    .await
                    .map_err(NodeError::failed(format!(
                        "cannot attach to {}",
                        path.display()
                    )))?;
            tokio::io::copy_bidirectional(&mut client, &mut sock)
                .await
                .map_err(NodeError::failed("console stream broke"))?;
            return Ok(());
        }
        let rt = self.require_cluster()?;
        let addr = self.peer_rpc(rt, node).await?;
        let header = TunnelHeader::Console { vmid };
        let mut remote = tunnel::connect(
            addr,
            Some(self.config.address),
            rt.client_tls.clone(),
            &header,
        )
        .await
        .map_err(NodeError::peer(format!(
            "cannot open a console tunnel to {node}"
        )))?;
        tokio::io::copy_bidirectional(&mut client, &mut remote)
            .await
            .map_err(NodeError::peer("console stream broke"))?;
        Ok(())
    }
}
