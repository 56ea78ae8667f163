//! Request bodies and query strings: parsed by brigade itself, so that every refusal
//! names the field and the problem in brigade's words (no serde or axum wording, no
//! "at line 1 column 209"), and a body over the limit says what the limit is.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use futures::StreamExt as _;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::error::NodeError;

/// Largest request body the API reads: room for a file at the tree's limit
/// (1 MiB) sent as base64 inside JSON.
pub const API_BODY_MAX_BYTES: usize = 2 * 1024 * 1024;
/// How much of a body over the limit is read and dropped before the refusal is sent,
/// so the client, still sending, reads the answer instead of a reset connection.
pub const API_BODY_DRAIN_MAX_BYTES: usize = 64 * 1024 * 1024;
/// How long draining such a body may take.
pub const API_BODY_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The refusal of a body over [`API_BODY_MAX_BYTES`].
pub fn too_large(size: Option<u64>) -> NodeError {
    let size = size.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
    NodeError::TooLarge(format!(
        "request body too large{size}: the API takes at most {} MiB per request, and a file in the tree holds at most {} MiB ({} bytes)",
        API_BODY_MAX_BYTES / (1024 * 1024),
        brigade_cfs::tree::FILE_MAX_BYTES / (1024 * 1024),
        brigade_cfs::tree::FILE_MAX_BYTES
    ))
}

/// A JSON body whose parse errors become clear 400 answers.
pub struct ApiJson<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError(NodeError::Invalid(
                "invalid request body: send it as JSON (Content-Type: application/json)".into(),
            )));
        }
        let length = content_length(req.headers());
        let bytes = read_limited(req.into_body(), length)
            .await
            .map_err(ApiError)?;
        parse_json(&bytes).map(ApiJson).map_err(ApiError)
    }
}

/// Reads every request's body before anything answers it (the layer outside all routes):
/// an answer sent while the client is still sending its body (a refusal by the
/// authentication layer, a 405, a 404, a wrong content type) would make hyper close the
/// connection under a client about to reuse it, which that client sees as a dropped
/// connection instead of an answer. The handlers then read the body from memory.
pub async fn read_body_first(
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (parts, body) = req.into_parts();
    let length = content_length(&parts.headers);
    match read_limited(body, length).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => ApiError(e).into_response(),
    }
}

/// Reads a body of at most [`API_BODY_MAX_BYTES`]; a larger one is read on (up to
/// [`API_BODY_DRAIN_MAX_BYTES`], for at most [`API_BODY_DRAIN_TIMEOUT`]) and dropped,
/// then refused with the limit named.
async fn read_limited(body: Body, length: Option<u64>) -> Result<Vec<u8>, NodeError> {
    let mut stream = body.into_data_stream();
    let mut data = Vec::new();
    let mut seen = 0usize;
    if length.is_none_or(|l| l <= API_BODY_MAX_BYTES as u64) {
        loop {
            match stream.next().await {
                None => return Ok(data),
                Some(Err(_)) => {
                    return Err(NodeError::Invalid(
                        "invalid request body: it could not be read completely".into(),
                    ))
                }
                Some(Ok(chunk)) if data.len() + chunk.len() > API_BODY_MAX_BYTES => {
                    seen = data.len() + chunk.len();
                    break;
                }
                Some(Ok(chunk)) => data.extend_from_slice(&chunk),
            }
        }
    }
    let drain = async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen > API_BODY_DRAIN_MAX_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(API_BODY_DRAIN_TIMEOUT, drain).await;
    Err(too_large(length))
}

/// Parses a JSON body into `T`, with brigade's error messages.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, NodeError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| json_error(&e.path().to_string(), e.inner()))?;
    de.end().map_err(|e| json_error(".", &e))?;
    Ok(value)
}

pub(super) fn json_error(path: &str, e: &serde_json::Error) -> NodeError {
    use serde_json::error::Category;
    let message = e.to_string();
    // serde_json appends the position; brigade names the field instead.
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let bare = message.strip_suffix(&suffix).unwrap_or(&message);
    NodeError::Invalid(match e.classify() {
        Category::Eof => "invalid request body: empty or cut-off JSON".to_string(),
        Category::Syntax => format!(
            "invalid request body: not valid JSON ({bare}, line {} column {})",
            e.line(),
            e.column()
        ),
        Category::Data | Category::Io => {
            format!("invalid request body: {}", describe(path, bare))
        }
    })
}

/// Query parameters whose parse errors become clear 400 answers.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default())
            .map(ApiQuery)
            .map_err(ApiError)
    }
}

/// Parses a query string into `T`, with brigade's error messages.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, NodeError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        NodeError::Invalid(format!(
            "invalid query: {}",
            describe(&e.path().to_string(), &e.inner().to_string())
        ))
    })
}

/// Turns serde's wording of a data error at `path` (`.` for the whole body) into
/// brigade's: the field first, then the problem.
pub fn describe(path: &str, serde_message: &str) -> String {
    // The path of an unknown field already ends with it; that of a missing one does not.
    let at = |field: &str| {
        if path == "." || path.is_empty() {
            field.to_string()
        } else if path == field || path.ends_with(&format!(".{field}")) {
            path.to_string()
        } else {
            format!("{path}.{field}")
        }
    };
    let here = if path == "." || path.is_empty() {
        "the body".to_string()
    } else {
        path.to_string()
    };
    let ticked = |s: &str| -> Option<String> {
        let start = s.find('`')? + 1;
        let len = s[start..].find('`')?;
        Some(s[start..start + len].to_string())
    };
    let known = |rest: &str| -> String {
        let names: Vec<&str> = rest
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            String::new()
        } else {
            format!(" (known: {})", names.join(", "))
        }
    };
    let m = serde_message;
    if let Some(rest) = m.strip_prefix("missing field ") {
        return format!(
            "{}: missing (it is required)",
            at(&ticked(rest).unwrap_or_default())
        );
    }
    if let Some(rest) = m.strip_prefix("unknown field ") {
        let (name, tail) = rest.split_once(", ").unwrap_or((rest, ""));
        return format!(
            "{}: unknown field{}",
            at(&ticked(name).unwrap_or_default()),
            known(tail)
        );
    }
    if let Some(rest) = m.strip_prefix("duplicate field ") {
        return format!("{}: given twice", at(&ticked(rest).unwrap_or_default()));
    }
    if let Some(rest) = m.strip_prefix("unknown variant ") {
        let (name, tail) = rest.split_once(", ").unwrap_or((rest, ""));
        return format!(
            "{here}: unknown value {:?}{}",
            ticked(name).unwrap_or_default(),
            known(tail)
        );
    }
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = m.strip_prefix(prefix) {
            let (got, want) = rest
                .split_once(", expected ")
                .unwrap_or((rest, "something else"));
            let want = if want.starts_with("struct ") || want == "a map" {
                "a JSON object"
            } else {
                want
            };
            return format!("{here}: expected {want}, got {}", got.replace('`', ""));
        }
    }
    format!("{here}: {m}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct CreateBody {
        vmid: brigade_core::VmId,
        #[serde(default)]
        config: BTreeMap<String, String>,
        #[serde(default)]
        start: bool,
    }

    fn refusal(body: &str) -> String {
        parse_json::<CreateBody>(body.as_bytes())
            .expect_err(body)
            .to_string()
    }

    #[test]
    fn body_refusals_name_the_field_in_brigades_words() {
        for (body, want) in [
            (
                r#"{"vmid": 1}"#,
                "invalid request body: vmid: invalid VMID 1: must be between 100 and 999999999",
            ),
            (
                r#"{"config": {}}"#,
                "invalid request body: vmid: missing (it is required)",
            ),
            (
                r#"{"vmid": 100, "bogus": 1}"#,
                "invalid request body: bogus: unknown field (known: vmid, config, start)",
            ),
            (
                r#"{"vmid": 100, "start": "yes"}"#,
                "invalid request body: start: expected a boolean, got string \"yes\"",
            ),
            (
                r#"{"vmid": 100, "config": {"memory": 5}}"#,
                "invalid request body: config.memory: expected a string, got integer 5",
            ),
            (
                "5",
                "invalid request body: the body: expected a JSON object, got integer 5",
            ),
            ("", "invalid request body: empty or cut-off JSON"),
            (
                "{not json",
                "invalid request body: not valid JSON (key must be a string, line 1 column 2)",
            ),
            (
                r#"{"vmid": 100} x"#,
                "invalid request body: not valid JSON (trailing characters, line 1 column 15)",
            ),
        ] {
            assert_eq!(refusal(body), want, "{body}");
        }
        for body in [r#"{"vmid": 1}"#, r#"{"vmid": 100, "start": "yes"}"#] {
            let e = refusal(body);
            assert!(!e.contains("line 1 column"), "{e}");
            assert!(!e.contains("Failed to deserialize"), "{e}");
        }
    }

    #[test]
    fn query_refusals_name_the_field() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Q {
            path: String,
            #[serde(default)]
            consistent: bool,
        }
        let e = parse_query::<Q>("path=a&consistent=maybe")
            .expect_err("bad bool")
            .to_string();
        assert!(e.starts_with("invalid query: consistent:"), "{e}");
        let e = parse_query::<Q>("path=a&x=1")
            .expect_err("unknown")
            .to_string();
        assert_eq!(
            e,
            "invalid query: x: unknown field (known: path, consistent)"
        );
        assert!(parse_query::<Q>("path=a&consistent=true").is_ok());
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_read_and_refused() {
        let small = read_limited(axum::body::Body::from(vec![b'x'; 10]), Some(10)).await;
        assert_eq!(small.expect("small body").len(), 10);
        let big = vec![b'x'; API_BODY_MAX_BYTES + 1];
        let declared = read_limited(axum::body::Body::from(big.clone()), Some(big.len() as u64))
            .await
            .expect_err("declared too large");
        assert_eq!(declared.status(), 413, "{declared}");
        let undeclared = read_limited(axum::body::Body::from(big), None)
            .await
            .expect_err("too large without a length");
        assert_eq!(undeclared.status(), 413, "{undeclared}");
        assert!(undeclared.to_string().contains("1 MiB"), "{undeclared}");
    }

    #[test]
    fn the_size_refusal_names_both_limits() {
        let e = too_large(Some(10_000_000)).to_string();
        assert!(e.contains("10000000 bytes"), "{e}");
        assert!(e.contains("2 MiB per request"), "{e}");
        assert!(e.contains("at most 1 MiB (1048576 bytes)"), "{e}");
    }
}
