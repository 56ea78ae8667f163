//! The web UI: its static assets, built into the binary, and the routes that serve them.
//!
//! Every node serves the same page at `/` (`index.html`) and its files under `/ui/...`,
//! next to the API on the same port. The page is a set of plain ES modules (no build step,
//! no framework) that talk to `/api2/json` of the node that served them. These routes
//! need no authentication: they serve static files only, never cluster data. Every answer
//! carries a content type, a validator (`ETag`, so a browser revalidates and an upgraded
//! node's new files are used at once) and a Content-Security-Policy that lets the page
//! load and call nothing but the node itself.

pub mod compress;
mod headers;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;

pub use headers::{content_type, CACHE_CONTROL, CONTENT_SECURITY_POLICY};

/// The files of `assets/`, in the binary (debug builds too: `debug-embed`).
#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The page itself.
pub const INDEX: &str = "index.html";
/// Where the page's files are served.
pub const PREFIX: &str = "/ui/";

/// `GET /` and `GET /ui/{path}`, for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*path}", get(asset))
}

async fn index(req_headers: HeaderMap) -> Response {
    serve(INDEX, &req_headers)
}

async fn asset(Path(path): Path<String>, req_headers: HeaderMap) -> Response {
    serve(&path, &req_headers)
}

/// The file at `path` of the assets, or 404; 304 when the browser's copy is current.
fn serve(path: &str, req_headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        let mut r = (
            StatusCode::NOT_FOUND,
            format!("no such file of the web UI: {path}\n"),
        )
            .into_response();
        headers::secure(r.headers_mut());
        return r;
    };
    let etag = headers::etag(&file.metadata.sha256_hash());
    let ctype = content_type(path);
    let compressible = compress::compressible(ctype);
    let gz = if compressible && compress::accepts_gzip(req_headers) {
        compress::gzipped(path, &file.data)
    } else {
        None
    };
    // Each encoding is its own representation, with its own validator.
    let served_etag = if gz.is_some() {
        headers::gzip_etag(&etag)
    } else {
        etag.clone()
    };
    let fresh = req_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == served_etag || t.trim() == "*");
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if let Some(gz) = &gz {
        gz.as_ref().clone().into_response()
    } else {
        file.data.into_owned().into_response()
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if let Ok(v) = HeaderValue::from_str(&served_etag) {
        h.insert(header::ETAG, v);
    }
    if gz.is_some() {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if compressible {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    headers::secure(h);
    r
}

/// Every file the UI is made of (for tests and checks).
pub fn files() -> Vec<String> {
    Assets::iter().map(|p| p.into_owned()).collect()
}

/// The text of one of the UI's files.
pub fn file_text(path: &str) -> Option<String> {
    Assets::get(path).map(|f| String::from_utf8_lossy(&f.data).into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    async fn get(path: &str, etag: Option<&str>) -> Response {
        let mut req = Request::get(path);
        if let Some(e) = etag {
            req = req.header(header::IF_NONE_MATCH, e);
        }
        routes::<()>()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("answer")
    }

    fn header_of(r: &Response, name: header::HeaderName) -> String {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    #[tokio::test]
    async fn the_page_is_served_at_the_root_with_its_headers() {
        let r = get("/", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            header_of(&r, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(&r, header::CACHE_CONTROL), CACHE_CONTROL);
        assert_eq!(
            header_of(&r, header::CONTENT_SECURITY_POLICY),
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(header_of(&r, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(header_of(&r, header::ETAG).starts_with('"'));
    }

    #[tokio::test]
    async fn modules_are_javascript_and_a_current_copy_is_not_sent_again() {
        let r = get("/ui/app.js", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            header_of(&r, header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        let etag = header_of(&r, header::ETAG);
        let again = get("/ui/app.js", Some(&etag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let other = get("/ui/app.js", Some("\"something-else\"")).await;
        assert_eq!(other.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn text_is_gzipped_for_a_browser_that_takes_it() {
        let req = Request::get("/ui/state.js")
            .header(header::ACCEPT_ENCODING, "gzip, deflate, br")
            .body(Body::empty())
            .expect("request");
        let r = routes::<()>().oneshot(req).await.expect("answer");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header_of(&r, header::CONTENT_ENCODING), "gzip");
        assert_eq!(header_of(&r, header::VARY), "Accept-Encoding");
        let gz_etag = header_of(&r, header::ETAG);
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .expect("body");
        let plain = file_text("state.js").expect("state.js");
        assert!(body.len() < plain.len() && body.starts_with(&[0x1f, 0x8b]));
        let identity = get("/ui/state.js", None).await;
        assert_eq!(header_of(&identity, header::CONTENT_ENCODING), "");
        assert_ne!(header_of(&identity, header::ETAG), gz_etag);
    }

    #[tokio::test]
    async fn a_missing_file_is_a_404_that_says_which() {
        let r = get("/ui/nope.js", None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            header_of(&r, header::CONTENT_SECURITY_POLICY),
            CONTENT_SECURITY_POLICY
        );
        let r = get("/ui/../Cargo.toml", None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_whole_ui_is_far_below_the_first_load_budget() {
        // Issue 17: the first load is at most 400 KB compressed; the page loads every file.
        const FIRST_LOAD_BUDGET_BYTES: usize = 400 * 1024;
        let total: usize = files()
            .iter()
            .map(|f| {
                let data = Assets::get(f).expect("file").data;
                compress::gzipped(f, &data).map_or(data.len(), |gz| gz.len())
            })
            .sum();
        assert!(
            total < FIRST_LOAD_BUDGET_BYTES,
            "the UI is {total} bytes compressed"
        );
    }

    #[test]
    fn every_file_has_a_known_content_type() {
        for f in files() {
            assert_ne!(
                content_type(&f),
                "application/octet-stream",
                "{f} has no content type"
            );
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        // The CSP forbids them: an inline script would simply not run.
        let html = file_text(INDEX).expect("index.html");
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
            assert!(tag.contains("src="), "inline script in index.html: {tag}");
        }
        assert!(!html.contains("<style"), "inline style in index.html");
        assert!(
            !html.contains(" style="),
            "inline style attribute in index.html"
        );
        let handler = html.match_indices(" on").find(|(i, _)| {
            let rest = &html[i + 3..];
            let name: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(handler.is_none(), "inline event handler in index.html");
    }

    #[test]
    fn every_module_import_names_a_file_that_exists() {
        let all = files();
        for f in all.iter().filter(|f| f.ends_with(".js")) {
            let text = file_text(f).expect("module");
            let dir = f.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let Some(spec) = line.split(['"', '\'']).nth(1) else {
                    continue;
                };
                let target = resolve(dir, spec);
                assert!(
                    all.contains(&target),
                    "{f} imports {spec}, which is not a file of the UI ({target})"
                );
            }
        }
    }

    /// `spec` relative to `dir`, as the browser resolves it under `/ui/`.
    fn resolve(dir: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = if spec.starts_with("/ui/") {
            Vec::new()
        } else {
            dir.split('/').filter(|p| !p.is_empty()).collect()
        };
        for p in spec.trim_start_matches("/ui/").split('/') {
            match p {
                "." | "" => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }
}
