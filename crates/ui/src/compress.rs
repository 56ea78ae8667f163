//! Gzip: copies of the UI's text files, made once per file on its first request and kept,
//! and the API's JSON answers (`gzip_answer`, used by the node's API layer).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::{header, HeaderMap};
use flate2::write::GzEncoder;
use flate2::Compression;

/// The gzip copy of each file compressed so far, by path.
static CACHE: OnceLock<Mutex<HashMap<String, Arc<Vec<u8>>>>> = OnceLock::new();

/// Whether a file of this content type is worth compressing (text, not images).
pub fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type.starts_with("application/json")
        || content_type.starts_with("image/svg+xml")
}

/// Whether the request's `Accept-Encoding` takes gzip (and not with `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// `data` gzipped at `level`, or None when that would not be smaller.
pub fn gzip(data: &[u8], level: Compression) -> Option<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4), level);
    enc.write_all(data).ok()?;
    let gz = enc.finish().ok()?;
    (gz.len() < data.len()).then_some(gz)
}

/// An API answer gzipped (the default level: answers are made per request), or None when
/// that would not be smaller.
pub fn gzip_answer(data: &[u8]) -> Option<Vec<u8>> {
    gzip(data, Compression::default())
}

/// The gzip copy of `data` (the file at `path`), or None when it would not be smaller.
pub fn gzipped(path: &str, data: &[u8]) -> Option<Arc<Vec<u8>>> {
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(path) {
        return Some(hit.clone());
    }
    let gz = Arc::new(gzip(data, Compression::best())?);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(path.to_string(), gz.clone());
    Some(gz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn asking(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn gzip_is_sent_only_to_who_takes_it() {
        assert!(accepts_gzip(&asking("gzip, deflate, br")));
        assert!(accepts_gzip(&asking("br;q=1.0, GZIP;q=0.5")));
        assert!(!accepts_gzip(&asking("gzip;q=0, br")));
        assert!(!accepts_gzip(&asking("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn only_text_is_compressed_and_only_when_it_gets_smaller() {
        assert!(compressible("text/javascript; charset=utf-8"));
        assert!(!compressible("image/png"));
        let text = "tick\n".repeat(200);
        let gz = gzipped("test/ticks.txt", text.as_bytes()).unwrap_or_default();
        assert!(!gz.is_empty() && gz.len() < text.len());
        assert!(gzipped("test/tiny.txt", b"x").is_none());
    }
}
