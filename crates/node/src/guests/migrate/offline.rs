//! Offline migration: local volumes are copied to the target through the tunnel (tar),
//! then the config moves; the guest is not running, so there is nothing to hand over.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use brigade_guest::{storage, VolumeId};
use brigade_net::tunnel::{self, TunnelHeader};
use tokio::io::AsyncBufReadExt;

use super::super::config_ops::volumes;
use super::super::locate::Located;
use crate::error::NodeError;
use crate::node::Node;
use crate::tasks::TaskHandle;
use brigade_api::tasks::MigrationResult;

impl Node {
    pub(super) async fn migrate_offline(
        self: &Arc<Self>,
        l: &Located,
        locked_version: u64,
        target: &str,
        addr: std::net::SocketAddr,
        task: &TaskHandle,
        started: Instant,
    ) -> Result<MigrationResult, NodeError> {
        let (scfg, _) = self.storage_cfg()?;
        let mut copied = Vec::new();
        let mut local_paths = Vec::new();
        let mut bytes = 0;
        for vol in volumes(l.kind, &l.text)? {
            let (s, path) = self.resolve_volume(&scfg, &vol)?;
            if s.shared {
                task.log(format!("{vol} is on shared storage {}: not copied", s.id));
                continue;
            }
            task.stop_point()?;
            task.log(format!("copying {vol} to {target}"));
            let sent = self
                .send_volume(addr, &vol, &self.storage_root(&s))
                .await
                .map_err(NodeError::peer(format!("copying {vol} to {target} failed")))?;
            task.log(format!("copied {vol}: {sent} bytes"));
            bytes += sent;
            copied.push(vol.to_string());
            local_paths.push(path);
        }
        task.stop_point()?;
        task.log(format!("moving the config to {target}"));
        self.move_config(l, locked_version, target).await?;
        for p in local_paths {
            if let Err(e) = storage::free_volume(&p) {
                tracing::warn!("after migrating {}: {e}", l.vmid);
            }
        }
        Ok(MigrationResult {
            vmid: l.vmid.get(),
            source: self.config.name.to_string(),
            target: target.to_string(),
            online: false,
            total_time_ms: started.elapsed().as_millis() as u64,
            qemu_total_time_ms: None,
            downtime_ms: None,
            handover_ms: None,
            transferred_bytes: bytes,
            copied_volumes: copied,
        })
    }

    /// Streams a volume (file or directory) to the target with tar through the tunnel.
    async fn send_volume(
        &self,
        addr: std::net::SocketAddr,
        vol: &VolumeId,
        root: &Path,
    ) -> Result<u64, NodeError> {
        let rt = self.require_cluster()?;
        let header = TunnelHeader::Volume {
            storage: vol.storage.clone(),
            name: vol.name.clone(),
        };
        let remote = tunnel::connect(
            addr,
            Some(self.config.address),
            rt.client_tls.clone(),
            &header,
        )
        .await
        .map_err(NodeError::peer("cannot open the tunnel"))?;
        let mut remote = tokio::io::BufReader::new(remote);
        let mut tar = tokio::process::Command::new("tar")
            .arg("-C")
            .arg(root.join("images"))
            .args(["--sparse", "-cf", "-"])
            .arg(&vol.name)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(NodeError::failed("cannot run tar"))?;
        let mut out = tar
            .stdout
            .take()
            .ok_or_else(|| NodeError::internal("tar has no stdout"))?;
        let sent = tunnel::send_chunked(&mut out, remote.get_mut())
            .await
            .map_err(NodeError::peer("stream broke"))?;
        let status = tar
            .wait_with_output()
            .await
            .map_err(NodeError::failed("tar"))?;
        if !status.status.success() {
            return Err(NodeError::tool_failed("tar", &status));
        }
        let mut reply = String::new();
        remote
            .read_line(&mut reply)
            .await
            .map_err(NodeError::peer("no answer"))?;
        match reply.trim() {
            "ok" => Ok(sent),
            "" => Err(NodeError::Upstream("the target closed the stream".into())),
            other => Err(NodeError::Upstream(
                other.trim_start_matches("error: ").to_string(),
            )),
        }
    }
}
