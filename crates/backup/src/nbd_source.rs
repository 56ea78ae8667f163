//! An NBD export as an [`ImageSource`]: zero ranges skipped via `base:allocation`, unchanged ones via a dirty bitmap context; and a `qemu-nbd` child serving an image file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::disk_backup::ImageSource;
use crate::error::{BackupError, Result};
use crate::nbd::{NbdClient, BASE_ALLOCATION, STATE_DIRTY, STATE_ZERO};

/// How long `qemu-nbd` may take to create its socket.
pub const QEMU_NBD_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How often its socket is looked for.
const SOCKET_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The meta context of a dirty bitmap named `bitmap`.
pub fn dirty_bitmap_context(bitmap: &str) -> String {
    format!("qemu:dirty-bitmap:{bitmap}")
}

/// An NBD export read chunk by chunk.
pub struct NbdSource {
    client: NbdClient,
    dirty_context: Option<String>,
}

impl NbdSource {
    /// Connects to `export`; with `bitmap`, ranges it does not mark dirty count as unchanged.
    pub fn connect(socket: &Path, export: &str, bitmap: Option<&str>) -> Result<NbdSource> {
        let dirty_context = bitmap.map(dirty_bitmap_context);
        let mut contexts = vec![BASE_ALLOCATION];
        if let Some(d) = &dirty_context {
            contexts.push(d);
        }
        Ok(NbdSource {
            client: NbdClient::connect(socket, export, &contexts)?,
            dirty_context,
        })
    }
}

impl ImageSource for NbdSource {
    fn size(&self) -> u64 {
        self.client.size
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.client.read_at(offset, buf)
    }
    fn known_zero(&mut self, offset: u64, len: u64) -> Result<bool> {
        self.client
            .all_have(BASE_ALLOCATION, offset, len, STATE_ZERO)
    }
    fn maybe_changed(&mut self, offset: u64, len: u64) -> Result<bool> {
        match &self.dirty_context {
            Some(ctx) => {
                let ctx = ctx.clone();
                self.client.any_has(&ctx, offset, len, STATE_DIRTY)
            }
            None => Ok(true),
        }
    }
}

/// A `qemu-nbd` serving one image read-only on a Unix socket; killed on drop.
pub struct QemuNbd {
    child: Child,
    pub socket: PathBuf,
}

impl QemuNbd {
    /// Serves `image` (of `format`) as export `export` on `socket`.
    pub fn serve(image: &Path, format: &str, socket: &Path, export: &str) -> Result<QemuNbd> {
        let _ = std::fs::remove_file(socket);
        let child = Command::new("qemu-nbd")
            .arg("--read-only")
            .arg(format!("--format={format}"))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--export-name={export}"))
            .arg(image)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(BackupError::io(
                "cannot run qemu-nbd (apt-get install qemu-utils)",
            ))?;
        let mut nbd = QemuNbd {
            child,
            socket: socket.to_path_buf(),
        };
        let start = Instant::now();
        while !socket.exists() {
            if let Ok(Some(status)) = nbd.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = nbd.child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                return Err(BackupError::Failed(format!(
                    "qemu-nbd {} exited ({status}): {}",
                    image.display(),
                    err.trim()
                )));
            }
            if start.elapsed() > QEMU_NBD_START_TIMEOUT {
                return Err(BackupError::Failed(format!(
                    "qemu-nbd did not create {} within {} s",
                    socket.display(),
                    QEMU_NBD_START_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(SOCKET_POLL_INTERVAL);
        }
        Ok(nbd)
    }
}

impl Drop for QemuNbd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}
