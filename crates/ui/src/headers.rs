//! The headers of the UI's answers: content types, caching, the security policy.

use axum::http::{header, HeaderMap, HeaderValue};

/// Revalidate on every use (the files keep their names across releases; the `ETag`
/// makes a revalidation of an unchanged file a bodiless 304).
pub const CACHE_CONTROL: &str = "no-cache";

/// Only the node itself: its scripts, styles, images and API (`connect-src 'self'`
/// covers its `wss:` too); no inline script or style, no frames, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The content type of a UI file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A strong validator from the file's SHA-256.
pub fn etag(sha256: &[u8; 32]) -> String {
    let hex: String = sha256[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The validator of a file's gzip copy: its plain validator, marked.
pub fn gzip_etag(etag: &str) -> String {
    format!("{}-gzip\"", etag.trim_end_matches('"'))
}

/// The headers every answer of the UI carries, found or not.
pub fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("views/guest.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("style.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    #[test]
    fn an_etag_is_a_quoted_hex_digest() {
        let e = etag(&[0xab; 32]);
        assert_eq!(e.len(), 34);
        assert!(e.starts_with("\"abab") && e.ends_with('"'));
    }
}
