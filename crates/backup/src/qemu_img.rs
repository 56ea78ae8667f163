//! The `qemu-img` calls backups need: an image's format and size, create, convert.

use std::path::Path;
use std::process::Command;

use crate::error::{BackupError, Result};

/// The image formats a disk may have here.
pub const FORMATS: &[&str] = &["raw", "qcow2"];

/// What `qemu-img info` says of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: String,
    pub virtual_size: u64,
}

fn run(args: &[&std::ffi::OsStr], what: &str) -> Result<Vec<u8>> {
    let out = Command::new("qemu-img")
        .args(args)
        .output()
        .map_err(BackupError::io(
            "cannot run qemu-img (apt-get install qemu-utils)",
        ))?;
    if !out.status.success() {
        return Err(BackupError::Failed(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// Format and virtual size (`-U`: the image may be open in a running QEMU).
pub fn info(path: &Path) -> Result<ImageInfo> {
    let out = run(
        &[
            "info".as_ref(),
            "-U".as_ref(),
            "--output=json".as_ref(),
            path.as_os_str(),
        ],
        &format!("qemu-img info {}", path.display()),
    )?;
    let v: serde_json::Value =
        serde_json::from_slice(&out).map_err(|source| BackupError::Json {
            context: "qemu-img info output".into(),
            source,
        })?;
    let format = v
        .get("format")
        .and_then(|f| f.as_str())
        .ok_or_else(|| BackupError::Failed("qemu-img info: no format".into()))?;
    let virtual_size = v
        .get("virtual-size")
        .and_then(|f| f.as_u64())
        .ok_or_else(|| BackupError::Failed("qemu-img info: no virtual-size".into()))?;
    Ok(ImageInfo {
        format: format.to_string(),
        virtual_size,
    })
}

/// Creates an empty image.
pub fn create(path: &Path, format: &str, size: u64) -> Result<()> {
    check_format(format)?;
    run(
        &[
            "create".as_ref(),
            "-q".as_ref(),
            "-f".as_ref(),
            format.as_ref(),
            path.as_os_str(),
            size.to_string().as_ref(),
        ],
        &format!("qemu-img create {}", path.display()),
    )
    .map(|_| ())
}

/// Copies `src` (of `src_format`) into a new image `dst` of `dst_format`.
pub fn convert(src: &Path, src_format: &str, dst: &Path, dst_format: &str) -> Result<()> {
    check_format(dst_format)?;
    run(
        &[
            "convert".as_ref(),
            "-U".as_ref(),
            "-f".as_ref(),
            src_format.as_ref(),
            "-O".as_ref(),
            dst_format.as_ref(),
            src.as_os_str(),
            dst.as_os_str(),
        ],
        &format!("qemu-img convert {} {}", src.display(), dst.display()),
    )
    .map(|_| ())
}

pub fn check_format(format: &str) -> Result<()> {
    if FORMATS.contains(&format) {
        Ok(())
    } else {
        Err(BackupError::Invalid(format!(
            "image format {format:?} is not supported (raw or qcow2)"
        )))
    }
}
