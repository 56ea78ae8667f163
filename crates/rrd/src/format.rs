//! The compact file format: a header, the archives' slots as little-endian f32/f32/u16, a checksum.

use crate::archive::{Archive, ArchiveSpec, Slot};
use crate::store::Rrd;

const MAGIC: &[u8; 4] = b"BRRD";
const VERSION: u8 = 1;
/// `last_bucket`/`last_update` absent.
const NONE: u64 = u64::MAX;
/// Bytes per slot: avg f32, max f32, count u16.
const SLOT_BYTES: usize = 10;
/// More rows than any archive could sensibly hold: a corrupt length.
const MAX_ROWS: u32 = 1 << 20;

/// Why bytes are not a history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a history file (bad magic)")]
    Magic,
    #[error("unknown history format version {0}")]
    Version(u8),
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("checksum mismatch (the file is damaged)")]
    Checksum,
    #[error("bad field name")]
    FieldName,
    #[error("bad archive shape (step {step}, rows {rows})")]
    Shape { step: u64, rows: u32 },
    #[error("{0} bytes after the end")]
    Trailing(usize),
}

/// FNV-1a, 64 bits: enough to tell a damaged file.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The bytes of a history.
pub fn encode(rrd: &Rrd) -> Vec<u8> {
    let slots: usize = rrd.archives.iter().map(|a| a.slots.len()).sum();
    let mut out = Vec::with_capacity(64 + slots * SLOT_BYTES);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(rrd.fields.len() as u8);
    for f in &rrd.fields {
        out.push(f.len() as u8);
        out.extend_from_slice(f.as_bytes());
    }
    out.extend_from_slice(&rrd.last_update.unwrap_or(NONE).to_le_bytes());
    out.push(rrd.archives.len() as u8);
    for a in &rrd.archives {
        out.extend_from_slice(&a.spec.step_secs.to_le_bytes());
        out.extend_from_slice(&(a.spec.rows as u32).to_le_bytes());
        out.extend_from_slice(&a.last_bucket.unwrap_or(NONE).to_le_bytes());
        for s in &a.slots {
            out.extend_from_slice(&s.avg.to_le_bytes());
            out.extend_from_slice(&s.max.to_le_bytes());
            out.extend_from_slice(&s.count.to_le_bytes());
        }
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(FormatError::Truncated(self.at))?;
        let s = self
            .bytes
            .get(self.at..end)
            .ok_or(FormatError::Truncated(self.at))?;
        self.at = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }
    fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}

fn opt(v: u64) -> Option<u64> {
    (v != NONE).then_some(v)
}

/// The history in `bytes`, checked whole.
pub fn decode(bytes: &[u8]) -> Result<Rrd, FormatError> {
    if bytes.len() < MAGIC.len() + 1 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(FormatError::Magic);
    }
    if bytes[MAGIC.len()] != VERSION {
        return Err(FormatError::Version(bytes[MAGIC.len()]));
    }
    let Some(body_len) = bytes.len().checked_sub(8) else {
        return Err(FormatError::Truncated(bytes.len()));
    };
    let (body, sum) = bytes.split_at(body_len);
    let mut sum_bytes = [0u8; 8];
    sum_bytes.copy_from_slice(sum);
    if checksum(body) != u64::from_le_bytes(sum_bytes) {
        return Err(FormatError::Checksum);
    }
    let mut r = Reader {
        bytes: body,
        at: MAGIC.len() + 1,
    };
    let nfields = r.u8()? as usize;
    let mut fields = Vec::with_capacity(nfields);
    for _ in 0..nfields {
        let len = r.u8()? as usize;
        let name = std::str::from_utf8(r.take(len)?).map_err(|_| FormatError::FieldName)?;
        fields.push(name.to_string());
    }
    let last_update = opt(r.u64()?);
    let narchives = r.u8()?;
    let mut archives = Vec::with_capacity(narchives as usize);
    for _ in 0..narchives {
        let step = r.u64()?;
        let rows = r.u32()?;
        if step == 0 || rows == 0 || rows > MAX_ROWS {
            return Err(FormatError::Shape { step, rows });
        }
        let last_bucket = opt(r.u64()?);
        let n = rows as usize * nfields;
        let raw = r.take(n * SLOT_BYTES)?;
        let slots = raw
            .chunks_exact(SLOT_BYTES)
            .map(|c| Slot {
                avg: f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                max: f32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                count: u16::from_le_bytes([c[8], c[9]]),
            })
            .collect();
        archives.push(Archive {
            spec: ArchiveSpec {
                step_secs: step,
                rows: rows as usize,
            },
            fields: nfields,
            last_bucket,
            slots,
        });
    }
    if r.at != body.len() {
        return Err(FormatError::Trailing(body.len() - r.at));
    }
    Ok(Rrd {
        fields,
        archives,
        last_update,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rrd {
        let mut r = Rrd::new(&["cpu", "mem"]);
        for i in 0..100u64 {
            r.update(1_700_000_000 + i * 10, &[i as f64 / 100.0, 1e9 + i as f64])
                .expect("newer");
        }
        r
    }

    #[test]
    fn encode_then_decode_is_the_same_history() {
        let r = sample();
        assert_eq!(decode(&encode(&r)), Ok(r));
        let empty = Rrd::new(&["x"]);
        assert_eq!(decode(&encode(&empty)), Ok(empty));
    }

    #[test]
    fn the_file_is_compact() {
        // 9 fields × 2626 buckets × 10 bytes, plus a small header.
        let r = Rrd::new(&[
            "cpu",
            "maxcpu",
            "mem",
            "maxmem",
            "netin",
            "netout",
            "diskread",
            "diskwrite",
            "loadavg",
        ]);
        let n = encode(&r).len();
        assert!(n < 9 * 2626 * 10 + 200, "{n}");
    }

    #[test]
    fn damage_is_detected() {
        let bytes = encode(&sample());
        assert_eq!(decode(b"nope"), Err(FormatError::Magic));
        assert_eq!(decode(&[]), Err(FormatError::Magic));
        let mut v = bytes.clone();
        v[4] = 9;
        assert_eq!(decode(&v), Err(FormatError::Version(9)));
        for cut in [5, 6, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut v = bytes.clone();
        v[bytes.len() / 2] ^= 0x40;
        assert_eq!(decode(&v), Err(FormatError::Checksum));
    }
}
