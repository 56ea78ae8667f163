//! QEMU's machine protocol (QMP): JSON lines over the guest's Unix socket.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::error::{GuestError, Result};

/// How long one QMP command may take to answer.
pub const QMP_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected, negotiated QMP session.
pub struct Qmp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Events received while waiting for answers, oldest first.
    pub events: Vec<Value>,
}

impl Qmp {
    /// Connects, reads the greeting and leaves negotiation mode.
    pub async fn connect(path: &Path) -> Result<Qmp> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(GuestError::io(format!(
                "cannot connect to QMP at {}",
                path.display()
            )))?;
        let (r, w) = stream.into_split();
        let mut qmp = Qmp {
            reader: BufReader::new(r),
            writer: w,
            events: Vec::new(),
        };
        let greeting = qmp.read_message().await?;
        if greeting.get("QMP").is_none() {
            return Err(GuestError::Qmp(format!("unexpected greeting {greeting}")));
        }
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    async fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(QMP_COMMAND_TIMEOUT, self.reader.read_line(&mut line))
            .await
            .map_err(|_| GuestError::Qmp("no answer within the timeout".into()))?
            .map_err(GuestError::io("QMP read"))?;
        if n == 0 {
            return Err(GuestError::Qmp("QEMU closed the monitor".into()));
        }
        serde_json::from_str(&line).map_err(|e| GuestError::Qmp(format!("bad JSON {line:?}: {e}")))
    }

    /// Runs one command and returns its `return` value.
    pub async fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(b'\n');
        self.writer
            .write_all(&bytes)
            .await
            .map_err(GuestError::io("QMP write"))?;
        loop {
            let m = self.read_message().await?;
            if let Some(r) = m.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = m.get("error") {
                let desc = e
                    .get("desc")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                return Err(GuestError::Qmp(format!("{command}: {desc}")));
            }
            if m.get("event").is_some() {
                self.events.push(m);
            }
        }
    }

    /// Waits until QEMU sends event `name` (or one already received), and returns it
    /// (with QEMU's `timestamp`); an error when the monitor closes, `timeout` passes or it stays silent
    /// for [`QMP_COMMAND_TIMEOUT`].
    pub async fn wait_event(&mut self, name: &str, timeout: Duration) -> Result<Value> {
        let is = |m: &Value| m.get("event").and_then(Value::as_str) == Some(name);
        if let Some(i) = self.events.iter().position(is) {
            return Ok(self.events.remove(i));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = tokio::time::timeout_at(deadline, self.read_message())
                .await
                .map_err(|_| GuestError::Qmp(format!("no {name} event within {timeout:?}")))??;
            if is(&m) {
                return Ok(m);
            }
            if m.get("event").is_some() {
                self.events.push(m);
            }
        }
    }

    /// The run state (`running`, `paused`, `inmigrate`, `postmigrate`, ...).
    pub async fn status(&mut self) -> Result<String> {
        let r = self.execute("query-status", None).await?;
        Ok(r.get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string())
    }
}
