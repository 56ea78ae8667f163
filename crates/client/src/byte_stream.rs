//! A streamed answer (`fs watch`, the change notices) read piece by piece up to a delimiter.

use std::pin::Pin;

use futures::{Stream, StreamExt};

use crate::{Client, ClientError};

/// The body of a streamed answer and what has arrived of it but not been read yet.
pub(crate) struct ByteStream {
    url: String,
    stream: Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: Vec<u8>,
}

impl Client {
    /// Sends `req` and, if the node accepts it, keeps its body as a stream.
    pub(crate) async fn open_stream(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<ByteStream, ClientError> {
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        if !resp.status().is_success() {
            return Err(self.error_answer(resp).await);
        }
        Ok(ByteStream {
            url: self.base.clone(),
            stream: Box::pin(resp.bytes_stream()),
            buf: Vec::new(),
        })
    }
}

impl ByteStream {
    /// The next piece up to and including `delimiter`; `None` when the node closed the stream.
    pub(crate) async fn next_until(
        &mut self,
        delimiter: &[u8],
    ) -> Option<Result<Vec<u8>, ClientError>> {
        loop {
            if let Some(at) = self
                .buf
                .windows(delimiter.len())
                .position(|w| w == delimiter)
            {
                return Some(Ok(self.buf.drain(..at + delimiter.len()).collect()));
            }
            match self.stream.next().await {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(e)) => {
                    return Some(Err(ClientError::Transport {
                        url: self.url.clone(),
                        message: e.to_string(),
                    }))
                }
                None => return None,
            }
        }
    }
}
