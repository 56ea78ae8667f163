//! The API's JSON answers gzipped for a client that takes gzip (issue 17: the page's first
//! load is mostly API answers). Only complete `application/json` bodies are compressed:
//! the change stream (`text/event-stream`), websocket upgrades (101, no body), file and
//! console streams pass as they are, so nothing that streams is buffered.

use axum::body::{to_bytes, Body, HttpBody as _};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use brigade_ui::compress::{accepts_gzip, gzip_answer};

/// Answers smaller than this are sent as they are (gzip's header would eat the gain).
pub const GZIP_MIN_BYTES: usize = 1024;
/// The largest answer buffered to be compressed; a larger one is sent plain (the API's
/// JSON answers are far below it: 1000 guests' resources are about 250 KiB).
pub const GZIP_MAX_BYTES: u64 = 64 * 1024 * 1024;

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

/// The middleware: the answer gzipped when the request takes gzip and the answer is a
/// complete JSON body (its exact size known: a stream has none) of at least
/// [`GZIP_MIN_BYTES`] not already encoded.
pub async fn gzip_json(req: Request, next: Next) -> Response {
    let wants = accepts_gzip(req.headers());
    let resp = next.run(req).await;
    if !wants
        || resp.status() == StatusCode::SWITCHING_PROTOCOLS
        || resp.headers().contains_key(header::CONTENT_ENCODING)
        || !is_json(&resp)
    {
        return resp;
    }
    let size = resp.body().size_hint().exact();
    if !size.is_some_and(|n| n >= GZIP_MIN_BYTES as u64 && n <= GZIP_MAX_BYTES) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("API answer not compressed, its body failed: {e}");
            parts.status = StatusCode::INTERNAL_SERVER_ERROR;
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::empty());
        }
    };
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    match gzip_answer(&bytes) {
        Some(gz) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(gz.len()));
            Response::from_parts(parts, Body::from(gz))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::io::Read as _;

    use axum::response::sse::{Event, Sse};
    use axum::routing::get;
    use axum::{middleware, Json, Router};
    use tower::ServiceExt as _;

    fn app() -> Router {
        let big: Vec<u32> = (0..2000).collect();
        Router::new()
            .route("/big", get(move || async move { Json(big.clone()) }))
            .route("/small", get(|| async { Json(vec![1, 2, 3]) }))
            .route(
                "/events",
                get(|| async {
                    let s =
                        futures::stream::iter((0..300).map(|i| {
                            Ok::<_, Infallible>(Event::default().data(format!("{i:0>20}")))
                        }));
                    Sse::new(s)
                }),
            )
            .layer(middleware::from_fn(gzip_json))
    }

    async fn call(path: &str, gzip: bool) -> Response {
        let mut req = Request::builder().uri(path);
        if gzip {
            req = req.header(header::ACCEPT_ENCODING, "gzip, deflate, br");
        }
        app()
            .oneshot(req.body(Body::empty()).unwrap_or_default())
            .await
            .unwrap_or_else(|e| match e {})
    }

    fn encoding(r: &Response) -> Option<&str> {
        r.headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn large_json_is_gzipped_for_who_takes_it_and_decodes_to_the_same() {
        let plain = to_bytes(call("/big", false).await.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        assert!(plain.len() > GZIP_MIN_BYTES);
        let r = call("/big", true).await;
        assert_eq!(encoding(&r), Some("gzip"));
        let gz = to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        assert!(
            gz.len() < plain.len() / 2,
            "{} of {}",
            gz.len(),
            plain.len()
        );
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap_or_default();
        assert_eq!(out, plain);
    }

    #[tokio::test]
    async fn small_answers_plain_clients_and_streams_are_left_alone() {
        assert_eq!(encoding(&call("/small", true).await), None);
        assert_eq!(encoding(&call("/big", false).await), None);
        let sse = call("/events", true).await;
        assert_eq!(encoding(&sse), None);
        let body = to_bytes(sse.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        assert!(String::from_utf8_lossy(&body).contains("data: 00000000000000000299"));
    }
}
