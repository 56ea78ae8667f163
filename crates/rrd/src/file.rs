//! A history on disk: read (a damaged or foreign file is reported and started anew), written atomically.

use std::io::Write as _;
use std::path::Path;

use crate::format::{decode, encode, FormatError};
use crate::store::Rrd;

/// What [`load_or_new`] found.
#[derive(Debug)]
pub enum Loaded {
    /// The file's history.
    Read(Rrd),
    /// No file yet: a new history.
    New(Rrd),
    /// The file was damaged or of another shape: a new history, and why.
    Replaced(Rrd, FormatError),
}

impl Loaded {
    /// The history, whichever way it came.
    pub fn into_rrd(self) -> Rrd {
        match self {
            Loaded::Read(r) | Loaded::New(r) | Loaded::Replaced(r, _) => r,
        }
    }
}

/// The history at `path` with exactly `fields`; a new one if there is none, or if the
/// file cannot be used (the caller reports the [`Loaded::Replaced`] reason).
pub fn load_or_new(path: &Path, fields: &[&str]) -> std::io::Result<Loaded> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded::New(Rrd::new(fields)))
        }
        Err(e) => return Err(e),
    };
    Ok(match decode(&bytes) {
        Ok(r) if r.has_shape(fields) => Loaded::Read(r),
        Ok(_) => Loaded::Replaced(Rrd::new(fields), FormatError::FieldName),
        Err(e) => Loaded::Replaced(Rrd::new(fields), e),
    })
}

/// Writes the history to `path` atomically: a temporary file beside it, then a rename.
pub fn save(path: &Path, rrd: &Rrd) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&encode(rrd))?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_history_reads_back_and_damage_starts_anew() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.rrd");
        assert!(matches!(
            load_or_new(&path, &["cpu"]).expect("read"),
            Loaded::New(_)
        ));
        let mut r = Rrd::new(&["cpu"]);
        r.update(1000, &[0.5]).expect("update");
        save(&path, &r).expect("save");
        assert!(!dir.path().join("node.rrd.tmp").exists());
        match load_or_new(&path, &["cpu"]).expect("read") {
            Loaded::Read(back) => assert_eq!(back, r),
            other => panic!("{other:?}"),
        }
        // Another shape: started anew, and said so.
        assert!(matches!(
            load_or_new(&path, &["cpu", "mem"]).expect("read"),
            Loaded::Replaced(_, _)
        ));
        std::fs::write(&path, b"garbage").expect("write");
        match load_or_new(&path, &["cpu"]).expect("read") {
            Loaded::Replaced(fresh, FormatError::Magic) => assert_eq!(fresh, Rrd::new(&["cpu"])),
            other => panic!("{other:?}"),
        }
    }
}
