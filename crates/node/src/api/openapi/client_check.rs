//! The CLI's client against the document: every request `crates/client` makes (found in
//! its source: the method and the path template of each call) is an operation of the
//! document, and where the client decodes a wire type, the document answers that type.

use std::path::Path;

use serde_json::Value;

use super::document;

/// One request of the client, as its source writes it.
#[derive(Debug)]
struct Call {
    file: String,
    method: &'static str,
    /// The path with every `{...}` as `{}`, under `/api2/json` unless `root`.
    path: String,
    root: bool,
    /// The type the client decodes the answer into (`Vec<NodeRow>`, `Value`, `()`).
    decodes: String,
}

/// The method markers a request is built with, closest before its path wins.
const MARKERS: [(&str, &str); 9] = [
    ("Method::GET", "GET"),
    (".get_q(", "GET"),
    ("Method::POST", "POST"),
    ("Method::PUT", "PUT"),
    ("Method::DELETE", "DELETE"),
    (".get(", "GET"),
    (".post(", "POST"),
    (".delete(", "DELETE"),
    (".put(", "PUT"),
];

/// `/nodes/{node}/{}/{vmid}` → `/nodes/{}/{}/{}`.
fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str("{}");
                }
                depth += 1;
            }
            '}' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn calls_in(source: &str, file: &str) -> Vec<Call> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = source[from..].find('"') {
        let q1 = from + at;
        let Some(len) = source[q1 + 1..].find('"') else {
            break;
        };
        let q2 = q1 + 1 + len;
        from = q2 + 1;
        let lit = &source[q1 + 1..q2];
        let (path, root) = if let Some(p) = lit.strip_prefix("{}/") {
            // `format!("{}/metrics", self.base)`; `{}/api2/json/access/ticket` a request
            // built in place; `{}/api2/json{path}` is the request builder.
            if let Some(api) = p.strip_prefix("api2/json") {
                if !api.starts_with('/') {
                    continue;
                }
                (api.to_string(), false)
            } else {
                (format!("/{p}"), true)
            }
        } else if lit.starts_with('/') && lit.len() > 1 {
            (lit.to_string(), false)
        } else {
            continue;
        };
        let before = &source[..q1];
        let fn_start = before.rfind("pub async fn ").unwrap_or(0);
        let body = &before[fn_start..];
        let method = MARKERS
            .iter()
            .filter_map(|(m, name)| body.rfind(m).map(|at| (at, *name)))
            .max()
            .map(|(_, name)| name)
            .unwrap_or_else(|| panic!("{file}: no method before {lit:?}"));
        let ret = body
            .find("-> Result<")
            .map(|at| {
                let rest = &body[at + "-> Result<".len()..];
                rest[..rest.find(", ClientError>").expect("a client result")].to_string()
            })
            .unwrap_or_else(|| panic!("{file}: no result type before {lit:?}"));
        // `let v: T = self.get(...)` decodes T whatever the function returns.
        let decodes = body
            .rfind("let ")
            .and_then(|at| {
                let line = body[at + 4..].lines().next()?;
                let (ident, rest) = line.split_once(": ")?;
                let (ty, _) = rest.split_once(" = ")?;
                ident
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    .then(|| ty.trim().to_string())
            })
            .unwrap_or(ret);
        out.push(Call {
            file: file.to_string(),
            method,
            path: normalize(&path),
            root,
            decodes,
        });
    }
    out
}

fn client_calls() -> Vec<Call> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../client/src");
    let mut calls = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read crates/client/src")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read a client file");
        let name = f
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        calls.extend(calls_in(&text, &name));
    }
    calls
}

/// The Rust name a response schema stands for: `NodeRow`, `Vec<NodeRow>`, `()`, or
/// `text`/`upgrade` for the answers that are not JSON.
fn answer_type(op: &Value) -> String {
    if let Some(r) = op["responses"]["101"].as_object() {
        assert!(r.contains_key("description"));
        return "upgrade".into();
    }
    let content = &op["responses"]["200"]["content"];
    let Some(data) = content["application/json"]["schema"]["properties"].get("data") else {
        return "text".into();
    };
    let name = |v: &Value| {
        v["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .map(str::to_string)
    };
    if let Some(n) = name(data) {
        n
    } else if data["type"] == "array" {
        format!(
            "Vec<{}>",
            name(&data["items"]).expect("an array of a wire type")
        )
    } else if data["type"] == "null" {
        "()".into()
    } else {
        panic!("an answer schema the check does not know: {data}")
    }
}

/// The client's decoded type without module paths: `brigade_api::X` → `X`.
fn bare(ty: &str) -> String {
    let mut out = String::new();
    for part in ty.split_inclusive(['<', '>']) {
        let (name, sep) = match part.strip_suffix(['<', '>']) {
            Some(n) => (n, &part[n.len()..]),
            None => (part, ""),
        };
        out.push_str(name.rsplit("::").next().unwrap_or(name));
        out.push_str(sep);
    }
    out
}

#[test]
fn the_source_scan_reads_method_path_and_type() {
    let src = r#"
    pub async fn a(&self, loc: &GuestLocation) -> Result<Vec<NodeRow>, ClientError> {
        self.get(&format!("/nodes/{}/{}/status", loc.node, loc.vmid), &[]).await
    }
    pub async fn b(&self) -> Result<String, ClientError> {
        let v: brigade_api::X = self.send(self.request(reqwest::Method::PUT, "/x")).await?;
        self.http.get(format!("{}/metrics", self.base))
    }
    pub async fn c(&self) -> Result<Ticket, ClientError> {
        self.http.post(format!("{}/api2/json/access/ticket", self.base))
    }
    pub async fn d(&self) -> Result<Vec<TaskStatus>, ClientError> {
        self.get_q(&format!("/nodes/{node}/tasks"), &q.pairs())
    }
    "#;
    let calls = calls_in(src, "t.rs");
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert_eq!(
        (calls[3].method, calls[3].path.as_str(), calls[3].root),
        ("POST", "/access/ticket", false)
    );
    assert_eq!(calls[3].decodes, "Ticket");
    assert_eq!(
        (calls[4].method, calls[4].path.as_str()),
        ("GET", "/nodes/{}/tasks")
    );
    assert_eq!(
        (calls[0].method, calls[0].path.as_str()),
        ("GET", "/nodes/{}/{}/status")
    );
    assert_eq!(calls[0].decodes, "Vec<NodeRow>");
    assert_eq!(
        (
            calls[1].method,
            calls[1].path.as_str(),
            bare(&calls[1].decodes).as_str()
        ),
        ("PUT", "/x", "X")
    );
    assert!(calls[2].root && calls[2].method == "GET" && calls[2].path == "/metrics");
}

#[test]
fn every_client_request_is_an_operation_and_its_decoded_type_the_documented_answer() {
    let doc = serde_json::to_value(document()).expect("encode");
    let paths = doc["paths"].as_object().expect("paths");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let calls = client_calls();
    assert!(
        calls.len() >= 45,
        "the scan found only {} client calls",
        calls.len()
    );
    let mut problems = Vec::new();
    let mut typed = 0;
    for c in &calls {
        let full = if c.root {
            c.path.clone()
        } else {
            format!("{}{}", super::API_PREFIX, c.path)
        };
        let found = paths.iter().find(|(p, item)| {
            normalize(p) == full && item.get(c.method.to_ascii_lowercase()).is_some()
        });
        let Some((_, item)) = found else {
            problems.push(format!(
                "{}: {} {} is not an operation of the document",
                c.file, c.method, c.path
            ));
            continue;
        };
        let documented = answer_type(&item[c.method.to_ascii_lowercase()]);
        let client = bare(&c.decodes);
        let wire = client.trim_start_matches("Vec<").trim_end_matches('>');
        let agrees = match client.as_str() {
            "Value" => documented != "text" && documented != "upgrade",
            "String" => documented == "text",
            "Upgraded" => documented == "upgrade",
            // Streams: `fs watch` lines, `/cluster/events` server-sent events.
            "Watch" | "Events" => documented == "text",
            "()" => documented == "()",
            _ if schemas.contains_key(wire) => {
                typed += 1;
                documented == client
            }
            _ => false,
        };
        if !agrees {
            problems.push(format!(
                "{}: {} {}: the client decodes {client}, the document answers {documented}",
                c.file, c.method, c.path
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(typed >= 25, "only {typed} typed answers checked");
}
