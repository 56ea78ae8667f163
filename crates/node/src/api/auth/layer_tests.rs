//! The authentication layer on a real (cluster-less) node: a route without a declared
//! requirement is refused before its handler runs; declared ones need credentials.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use tower::Service;

use crate::config::NodeConfig;
use crate::node::Node;

static RAN: AtomicUsize = AtomicUsize::new(0);

async fn handler() -> &'static str {
    RAN.fetch_add(1, Ordering::SeqCst);
    "ran"
}

async fn send(app: &mut Router, path: &str, auth: Option<&str>) -> StatusCode {
    send_with_cookie(app, path, auth, None).await
}

async fn send_with_cookie(
    app: &mut Router,
    path: &str,
    auth: Option<&str>,
    cookie: Option<&str>,
) -> StatusCode {
    send_method(app, "GET", path, auth, cookie).await
}

async fn send_method(
    app: &mut Router,
    method: &str,
    path: &str,
    auth: Option<&str>,
    cookie: Option<&str>,
) -> StatusCode {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let req = req.body(Body::empty()).expect("request");
    std::future::poll_fn(|cx| <Router as Service<Request<Body>>>::poll_ready(app, cx))
        .await
        .expect("ready");
    <Router as Service<Request<Body>>>::call(app, req)
        .await
        .expect("answer")
        .status()
}

/// A node that is in no cluster, its state under `dir`.
async fn cluster_less_node(dir: &std::path::Path) -> std::sync::Arc<Node> {
    let mut config = NodeConfig::new(
        "n1".parse().expect("name"),
        "127.0.0.1".parse().expect("addr"),
    );
    config.state_dir = Some(dir.join("state"));
    config.run_dir = Some(dir.join("run"));
    Node::open(config).await.expect("node")
}

#[tokio::test]
async fn undeclared_routes_are_refused_and_declared_ones_need_a_caller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = cluster_less_node(dir.path()).await;
    let token = node.local_token.to_header_value();
    let routes = Router::new()
        .route("/api2/json/version", get(handler))
        .route("/api2/json/undeclared", get(handler));
    let mut app = super::protect(node, routes);

    assert_eq!(
        send(&mut app, "/api2/json/undeclared", Some(&token)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(RAN.load(Ordering::SeqCst), 0, "the handler ran");
    assert_eq!(
        send(&mut app, "/api2/json/version", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(
            &mut app,
            "/api2/json/version",
            Some("BrigadeToken root@pam!x=nope")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(RAN.load(Ordering::SeqCst), 0, "the handler ran");
    assert_eq!(
        send(&mut app, "/api2/json/version", Some(&token)).await,
        StatusCode::OK
    );
    assert_eq!(RAN.load(Ordering::SeqCst), 1);
    // A valid token wins over a garbage ticket cookie beside it (clients such as
    // schemathesis send every scheme the document names).
    assert_eq!(
        send_with_cookie(
            &mut app,
            "/api2/json/version",
            Some(&token),
            Some("BrigadeAuthCookie=garbage%3A%3A")
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(RAN.load(Ordering::SeqCst), 2);
    assert_eq!(
        send_with_cookie(
            &mut app,
            "/api2/json/version",
            None,
            Some("BrigadeAuthCookie=garbage%3A%3A")
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(RAN.load(Ordering::SeqCst), 2, "the handler ran");
    // A method the path does not have is a 405 (not a permission refusal), before any
    // authentication; HEAD is GET's, with GET's requirement.
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        assert_eq!(
            send_method(&mut app, method, "/api2/json/version", None, None).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
    }
    assert_eq!(
        send_method(&mut app, "HEAD", "/api2/json/version", None, None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send_method(&mut app, "HEAD", "/api2/json/version", Some(&token), None).await,
        StatusCode::OK
    );
    assert_eq!(RAN.load(Ordering::SeqCst), 3);
}

/// Reads one HTTP/1.1 answer (headers and a Content-Length body) from `conn`; None when
/// the connection ends first.
async fn read_answer(conn: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt as _;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Some(text);
            }
        }
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), conn.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_refusal_waits_for_the_body_so_the_connection_stays_usable() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = cluster_less_node(dir.path()).await;
    let token = node.local_token.to_header_value();
    let app = super::protect(
        node,
        Router::new().route("/api2/json/version", get(handler)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let service = hyper_util::service::TowerToHyperService::new(app);
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .await;
    });
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = br#"{"comment":"late"}"#;
    // The headers of a request refused before its handler (PUT is no method of the path),
    // then, a moment later, its body: as a client whose body is a separate write.
    conn.write_all(
        format!(
            "PUT /api2/json/version HTTP/1.1\r\nHost: n1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .expect("headers");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    conn.write_all(body).await.expect("body");
    let first = read_answer(&mut conn).await.expect("the refusal");
    assert!(first.starts_with("HTTP/1.1 405"), "{first}");
    // The same connection serves the next request.
    conn.write_all(
        format!("GET /api2/json/version HTTP/1.1\r\nHost: n1\r\nAuthorization: {token}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .expect("second request");
    let second = read_answer(&mut conn)
        .await
        .expect("the connection was closed after the refusal");
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
}
