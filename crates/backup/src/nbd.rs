//! A minimal NBD client over a Unix socket: fixed-newstyle handshake, structured replies,
//! `NBD_CMD_READ` and `NBD_CMD_BLOCK_STATUS` with `base:allocation` and `qemu:dirty-bitmap:` contexts.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::error::{BackupError, Result};

/// How long one NBD request may take.
pub const NBD_IO_TIMEOUT: Duration = Duration::from_secs(60);

const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
const OPT_REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;
const FLAG_FIXED_NEWSTYLE: u16 = 1;
const FLAG_NO_ZEROES: u16 = 2;
const OPT_GO: u32 = 7;
const OPT_STRUCTURED_REPLY: u32 = 8;
const OPT_SET_META_CONTEXT: u32 = 10;
const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_META_CONTEXT: u32 = 4;
const REP_ERR_BIT: u32 = 1 << 31;
const INFO_EXPORT: u16 = 0;
const CMD_READ: u16 = 0;
const CMD_DISC: u16 = 2;
const CMD_BLOCK_STATUS: u16 = 7;
const REPLY_FLAG_DONE: u16 = 1;
const REPLY_TYPE_NONE: u16 = 0;
const REPLY_TYPE_OFFSET_DATA: u16 = 1;
const REPLY_TYPE_OFFSET_HOLE: u16 = 2;
const REPLY_TYPE_BLOCK_STATUS: u16 = 5;
const REPLY_TYPE_ERROR_BIT: u16 = 1 << 15;
/// `base:allocation`: the range reads as zeroes.
pub const STATE_ZERO: u32 = 2;
/// `qemu:dirty-bitmap:`: the range changed.
pub const STATE_DIRTY: u32 = 1;
/// The allocation context.
pub const BASE_ALLOCATION: &str = "base:allocation";
/// Largest block-status request (QEMU answers in parts anyway).
const MAX_STATUS_LEN: u64 = 1 << 30;

/// One extent of a block-status answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub length: u64,
    pub flags: u32,
}

/// A connected NBD export.
pub struct NbdClient {
    sock: UnixStream,
    pub size: u64,
    /// (context id, name) the server agreed to.
    contexts: Vec<(u32, String)>,
    cookie: u64,
}

fn proto(msg: impl Into<String>) -> BackupError {
    BackupError::Nbd(msg.into())
}

impl NbdClient {
    /// Connects to `export` at the Unix socket `path`, asking for the meta `contexts`.
    pub fn connect(path: &Path, export: &str, contexts: &[&str]) -> Result<NbdClient> {
        let sock = UnixStream::connect(path).map_err(BackupError::io(format!(
            "cannot connect to the NBD server at {}",
            path.display()
        )))?;
        sock.set_read_timeout(Some(NBD_IO_TIMEOUT))
            .and_then(|()| sock.set_write_timeout(Some(NBD_IO_TIMEOUT)))
            .map_err(BackupError::io("NBD socket timeouts"))?;
        let mut c = NbdClient {
            sock,
            size: 0,
            contexts: Vec::new(),
            cookie: 0,
        };
        c.handshake(export, contexts)?;
        Ok(c)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.sock
            .read_exact(buf)
            .map_err(BackupError::io("NBD read"))
    }
    fn u16(&mut self) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read_exact(&mut b)?;
        Ok(u16::from_be_bytes(b))
    }
    fn u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn u64(&mut self) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn bytes(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut b = vec![0u8; n];
        self.read_exact(&mut b)?;
        Ok(b)
    }
    fn send(&mut self, data: &[u8]) -> Result<()> {
        self.sock
            .write_all(data)
            .map_err(BackupError::io("NBD write"))
    }

    fn send_option(&mut self, opt: u32, data: &[u8]) -> Result<()> {
        let mut m = Vec::with_capacity(16 + data.len());
        m.extend_from_slice(&IHAVEOPT.to_be_bytes());
        m.extend_from_slice(&opt.to_be_bytes());
        m.extend_from_slice(&(data.len() as u32).to_be_bytes());
        m.extend_from_slice(data);
        self.send(&m)
    }

    /// One option reply: (type, payload).
    fn option_reply(&mut self, opt: u32) -> Result<(u32, Vec<u8>)> {
        if self.u64()? != OPT_REPLY_MAGIC {
            return Err(proto("bad option reply magic"));
        }
        let got = self.u32()?;
        let kind = self.u32()?;
        let len = self.u32()? as usize;
        if len > 1 << 20 {
            return Err(proto("option reply too long"));
        }
        let data = self.bytes(len)?;
        if got != opt {
            return Err(proto(format!("reply to option {got}, expected {opt}")));
        }
        if kind & REP_ERR_BIT != 0 {
            return Err(proto(format!(
                "option {opt} refused ({kind:#x}): {}",
                String::from_utf8_lossy(&data)
            )));
        }
        Ok((kind, data))
    }

    fn handshake(&mut self, export: &str, contexts: &[&str]) -> Result<()> {
        if self.u64()? != NBDMAGIC || self.u64()? != IHAVEOPT {
            return Err(proto("not a newstyle NBD server"));
        }
        let flags = self.u16()?;
        if flags & FLAG_FIXED_NEWSTYLE == 0 {
            return Err(proto("the server is not fixed-newstyle"));
        }
        let client_flags = u32::from(FLAG_FIXED_NEWSTYLE | (flags & FLAG_NO_ZEROES));
        self.send(&client_flags.to_be_bytes())?;
        self.send_option(OPT_STRUCTURED_REPLY, &[])?;
        let (kind, _) = self.option_reply(OPT_STRUCTURED_REPLY)?;
        if kind != REP_ACK {
            return Err(proto("structured replies refused"));
        }
        let name = export.as_bytes();
        if !contexts.is_empty() {
            let mut d = Vec::new();
            d.extend_from_slice(&(name.len() as u32).to_be_bytes());
            d.extend_from_slice(name);
            d.extend_from_slice(&(contexts.len() as u32).to_be_bytes());
            for q in contexts {
                d.extend_from_slice(&(q.len() as u32).to_be_bytes());
                d.extend_from_slice(q.as_bytes());
            }
            self.send_option(OPT_SET_META_CONTEXT, &d)?;
            loop {
                let (kind, data) = self.option_reply(OPT_SET_META_CONTEXT)?;
                match kind {
                    REP_META_CONTEXT if data.len() >= 4 => {
                        let id = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                        let n = String::from_utf8_lossy(&data[4..]).into_owned();
                        self.contexts.push((id, n));
                    }
                    REP_ACK => break,
                    other => return Err(proto(format!("unexpected meta reply {other}"))),
                }
            }
            for q in contexts {
                if !self.contexts.iter().any(|(_, n)| n == q) {
                    return Err(proto(format!("the server has no meta context {q:?}")));
                }
            }
        }
        let mut d = Vec::new();
        d.extend_from_slice(&(name.len() as u32).to_be_bytes());
        d.extend_from_slice(name);
        d.extend_from_slice(&0u16.to_be_bytes());
        self.send_option(OPT_GO, &d)?;
        loop {
            let (kind, data) = self.option_reply(OPT_GO)?;
            match kind {
                REP_INFO if data.len() >= 12 => {
                    if u16::from_be_bytes([data[0], data[1]]) == INFO_EXPORT {
                        let mut s = [0u8; 8];
                        s.copy_from_slice(&data[2..10]);
                        self.size = u64::from_be_bytes(s);
                    }
                }
                REP_INFO => {}
                REP_ACK => break,
                other => return Err(proto(format!("unexpected GO reply {other}"))),
            }
        }
        Ok(())
    }

    fn request(&mut self, kind: u16, offset: u64, length: u32) -> Result<u64> {
        self.cookie += 1;
        let mut m = Vec::with_capacity(28);
        m.extend_from_slice(&REQUEST_MAGIC.to_be_bytes());
        m.extend_from_slice(&0u16.to_be_bytes());
        m.extend_from_slice(&kind.to_be_bytes());
        m.extend_from_slice(&self.cookie.to_be_bytes());
        m.extend_from_slice(&offset.to_be_bytes());
        m.extend_from_slice(&length.to_be_bytes());
        self.send(&m)?;
        Ok(self.cookie)
    }

    /// Reads replies to `cookie` until done, handing each structured chunk to `on_chunk`.
    fn replies(
        &mut self,
        cookie: u64,
        mut on_chunk: impl FnMut(&mut NbdClient, u16, usize) -> Result<()>,
    ) -> Result<()> {
        loop {
            let magic = self.u32()?;
            match magic {
                SIMPLE_REPLY_MAGIC => {
                    let err = self.u32()?;
                    let c = self.u64()?;
                    if c != cookie {
                        return Err(proto("reply to an unknown request"));
                    }
                    if err != 0 {
                        return Err(proto(format!("request failed with error {err}")));
                    }
                    return Ok(());
                }
                STRUCTURED_REPLY_MAGIC => {
                    let flags = self.u16()?;
                    let kind = self.u16()?;
                    let c = self.u64()?;
                    let len = self.u32()? as usize;
                    if c != cookie {
                        return Err(proto("reply to an unknown request"));
                    }
                    if kind & REPLY_TYPE_ERROR_BIT != 0 {
                        let data = self.bytes(len)?;
                        let code = data
                            .get(..4)
                            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                            .unwrap_or(0);
                        let msg = data
                            .get(6..)
                            .map(String::from_utf8_lossy)
                            .unwrap_or_default();
                        return Err(proto(format!("error {code}: {msg}")));
                    }
                    on_chunk(self, kind, len)?;
                    if flags & REPLY_FLAG_DONE != 0 {
                        return Ok(());
                    }
                }
                _ => return Err(proto(format!("bad reply magic {magic:#x}"))),
            }
        }
    }

    /// Reads `buf.len()` bytes at `offset` (holes come back as zeroes).
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let len = u32::try_from(buf.len()).map_err(|_| proto("read too large"))?;
        let cookie = self.request(CMD_READ, offset, len)?;
        buf.fill(0);
        self.replies(cookie, |c, kind, n| {
            match kind {
                REPLY_TYPE_OFFSET_DATA if n >= 8 => {
                    let at = c.u64()?;
                    let start = at
                        .checked_sub(offset)
                        .map(|s| s as usize)
                        .filter(|s| s + (n - 8) <= buf.len())
                        .ok_or_else(|| proto("data outside the request"))?;
                    c.read_exact(&mut buf[start..start + n - 8])?;
                }
                REPLY_TYPE_OFFSET_HOLE if n == 12 => {
                    let _ = c.bytes(12)?;
                }
                REPLY_TYPE_NONE => {
                    let _ = c.bytes(n)?;
                }
                other => return Err(proto(format!("unexpected read reply type {other}"))),
            }
            Ok(())
        })
    }

    /// The extents of `context` covering [offset, offset + length).
    pub fn block_status(&mut self, context: &str, offset: u64, length: u64) -> Result<Vec<Extent>> {
        let id = self
            .contexts
            .iter()
            .find(|(_, n)| n == context)
            .map(|(i, _)| *i)
            .ok_or_else(|| proto(format!("meta context {context:?} was not negotiated")))?;
        let end = offset + length;
        let mut out: Vec<Extent> = Vec::new();
        let mut at = offset;
        while at < end {
            let len = (end - at).min(MAX_STATUS_LEN) as u32;
            let cookie = self.request(CMD_BLOCK_STATUS, at, len)?;
            let mut got: Vec<Extent> = Vec::new();
            self.replies(cookie, |c, kind, n| {
                if kind != REPLY_TYPE_BLOCK_STATUS || n < 4 || (n - 4) % 8 != 0 {
                    let _ = c.bytes(n)?;
                    return Ok(());
                }
                let ctx = c.u32()?;
                let mut pos = at;
                for _ in 0..(n - 4) / 8 {
                    let l = u64::from(c.u32()?);
                    let flags = c.u32()?;
                    if ctx == id {
                        got.push(Extent {
                            offset: pos,
                            length: l,
                            flags,
                        });
                    }
                    pos += l;
                }
                Ok(())
            })?;
            let covered: u64 = got.iter().map(|e| e.length).sum();
            if covered == 0 {
                return Err(proto("block status made no progress"));
            }
            at += covered;
            out.extend(got);
        }
        if let Some(last) = out.last_mut() {
            let over = (last.offset + last.length).saturating_sub(end);
            last.length -= over.min(last.length);
        }
        Ok(out)
    }

    /// Whether every byte of the range has `flag` set in `context`.
    pub fn all_have(&mut self, context: &str, offset: u64, length: u64, flag: u32) -> Result<bool> {
        Ok(self
            .block_status(context, offset, length)?
            .iter()
            .all(|e| e.flags & flag != 0))
    }

    /// Whether any byte of the range has `flag` set in `context`.
    pub fn any_has(&mut self, context: &str, offset: u64, length: u64, flag: u32) -> Result<bool> {
        Ok(self
            .block_status(context, offset, length)?
            .iter()
            .any(|e| e.flags & flag != 0))
    }
}

impl Drop for NbdClient {
    fn drop(&mut self) {
        let _ = self.request(CMD_DISC, 0, 0);
    }
}
