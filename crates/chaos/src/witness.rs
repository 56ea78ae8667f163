//! The VMs' witness disks, read from the host. The appliance's init (see
//! scripts/build-appliance) finds the marker in sector 0 and writes, every 100 ms, a
//! record `W BOOT N G` to sector 1 + G mod [`SLOTS`]. The host reads the ring and keeps
//! every record it has not seen before, with when it first saw it.

use std::path::{Path, PathBuf};

use crate::checkers::never_twice::WitnessRecord;
use crate::history::Micros;

/// What sector 0 of a witness disk starts with.
pub const MAGIC: &[u8] = b"BRIGADE-WITNESS-DISK";
/// Records the ring holds (102 s of records at 10 a second).
pub const SLOTS: usize = 1024;
const SECTOR: usize = 512;

/// Marks a new (zeroed) disk image as a witness disk.
pub fn init_disk(path: &Path) -> std::io::Result<()> {
    use std::io::{Seek as _, Write as _};
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.seek(std::io::SeekFrom::Start(0))?;
    f.write_all(MAGIC)?;
    f.sync_all()
}

/// One slot's record: (boot, n, g).
pub fn parse_slot(sector: &[u8]) -> Option<(String, u64, u64)> {
    let end = sector.iter().position(|b| *b == b'\n' || *b == 0)?;
    let text = std::str::from_utf8(&sector[..end]).ok()?;
    let mut w = text.split_whitespace();
    if w.next()? != "W" {
        return None;
    }
    let boot = w.next()?.to_string();
    let n = w.next()?.parse().ok()?;
    let g = w.next()?.parse().ok()?;
    Some((boot, n, g))
}

/// Watches one VM's disk.
pub struct DiskWatch {
    vmid: u32,
    path: PathBuf,
    last: Vec<Option<(String, u64, u64)>>,
}

impl DiskWatch {
    pub fn new(vmid: u32, path: PathBuf) -> Self {
        DiskWatch {
            vmid,
            path,
            last: vec![None; SLOTS],
        }
    }

    /// The records that appeared since the last poll, stamped `now`.
    pub fn poll(&mut self, now: Micros) -> Vec<WitnessRecord> {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (slot, last) in self.last.iter_mut().enumerate() {
            let at = (slot + 1) * SECTOR;
            let Some(sector) = bytes.get(at..at + SECTOR) else {
                break;
            };
            let rec = parse_slot(sector);
            if rec.is_some() && rec != *last {
                if let Some((boot, n, g)) = rec.clone() {
                    out.push(WitnessRecord {
                        vmid: self.vmid,
                        boot,
                        n,
                        g,
                        seen: now,
                    });
                }
                *last = rec;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_records_are_reported_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("d.raw");
        std::fs::write(&path, vec![0u8; SECTOR * (SLOTS + 1)]).expect("image");
        init_disk(&path).expect("init");
        let mut w = DiskWatch::new(100, path.clone());
        assert!(w.poll(1).is_empty());
        let mut bytes = std::fs::read(&path).expect("read");
        assert!(bytes.starts_with(MAGIC));
        let rec = b"W ab12 1 5\n";
        let at = (1 + 5 % SLOTS) * SECTOR;
        bytes[at..at + rec.len()].copy_from_slice(rec);
        std::fs::write(&path, &bytes).expect("write");
        let got = w.poll(2);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].boot.as_str(), got[0].n, got[0].g), ("ab12", 1, 5));
        assert!(w.poll(3).is_empty());
    }

    #[test]
    fn garbage_is_no_record() {
        assert_eq!(parse_slot(b"X 1 2 3\n"), None);
        assert_eq!(parse_slot(b"W ab 1\n"), None);
        assert_eq!(parse_slot(&[0u8; 16]), None);
    }
}
