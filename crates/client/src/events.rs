//! `GET /cluster/events`: the node's change notices (server-sent events), read as a stream.

use crate::byte_stream::ByteStream;
use crate::{Client, ClientError};

/// The stream of change notices; each names the sources that changed.
pub struct Events {
    body: ByteStream,
}

impl Client {
    /// Opens the change notices; returns once the node has said hello.
    pub async fn cluster_events(&self) -> Result<Events, ClientError> {
        let req = self
            .request(reqwest::Method::GET, "/cluster/events")
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let mut events = Events {
            body: self.open_stream(req).await?,
        };
        // The first event is `hello`: the stream is up.
        events.next_event().await.transpose()?;
        Ok(events)
    }
}

impl Events {
    /// The next event, as (name, data); `None` when the node closed the stream.
    async fn next_event(&mut self) -> Option<Result<(String, String), ClientError>> {
        loop {
            let block = match self.body.next_until(b"\n\n").await? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            let text = String::from_utf8_lossy(&block);
            let (mut event, mut data) = (String::new(), Vec::new());
            for line in text.lines() {
                if let Some(e) = line.strip_prefix("event:") {
                    event = e.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            // A comment block (the keep-alive) has neither.
            if !event.is_empty() || !data.is_empty() {
                return Some(Ok((event, data.join("\n"))));
            }
        }
    }

    /// The sources named by the next change notice (`status`, `log`, ...); `None` when the
    /// node closed the stream.
    pub async fn next_change(&mut self) -> Option<Result<Vec<String>, ClientError>> {
        loop {
            match self.next_event().await? {
                Ok((event, data)) if event == "change" => {
                    let v: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
                    let changed = v["changed"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    return Some(Ok(changed));
                }
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
