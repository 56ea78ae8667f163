//! The document against the routers' source (every route, nothing else), its internal
//! consistency, and the schemas that mirror other crates' types against those types.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::table::{endpoints, Mount};
use super::{document, full_path, operation_id};

/// HTTP methods axum's routing functions are named after.
const ROUTING_METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the api directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The methods named in a handler expression: `get(a).post(b)`, `axum::routing::delete(c)`.
fn methods_in(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut found = Vec::new();
    for m in ROUTING_METHODS {
        let mut from = 0;
        while let Some(at) = expr[from..].find(m) {
            let start = from + at;
            let end = start + m.len();
            let before_ok = start == 0
                || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
            if before_ok && bytes.get(end) == Some(&b'(') {
                found.push(m.to_ascii_uppercase());
            }
            from = end;
        }
    }
    found
}

/// Every `(METHOD, template, file)` of a route call (`template`, handlers) in `source`.
fn routes_in(source: &str, file: &str) -> Vec<(String, String, String)> {
    let needle = [".route", "("].concat();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = source[from..].find(&needle) {
        let open = from + at + needle.len();
        from = open;
        // A call has the template next (docs that mention the method do not).
        let Some(q1) = source[open..]
            .find(|c: char| !c.is_whitespace())
            .map(|i| open + i)
            .filter(|&i| source.as_bytes()[i] == b'"')
        else {
            continue;
        };
        let q2 = q1 + 1 + source[q1 + 1..].find('"').expect("the template's end");
        let template = &source[q1 + 1..q2];
        // A template starts with '/' (a scanner's own `".route("` literal does not).
        if !template.starts_with('/') {
            continue;
        }
        // The handler expression runs to the `)` that closes `.route(`.
        let mut depth = 1;
        let mut end = q2 + 1;
        for (i, c) in source[q2 + 1..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = q2 + 1 + i;
                break;
            }
        }
        let methods = methods_in(&source[q2 + 1..end]);
        assert!(
            !methods.is_empty(),
            "{file}: no method found for route {template}"
        );
        for m in methods {
            out.push((m, template.to_string(), file.to_string()));
        }
        from = end;
    }
    out
}

/// `source` without its inline test modules (`#[cfg(test)] mod x { ... }`), whose routers
/// are fixtures, not the API.
fn without_test_modules(source: &str) -> String {
    let marker = "#[cfg(test)]";
    let mut out = String::new();
    let mut rest = source;
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at]);
        let after = &rest[at + marker.len()..];
        let inline = after.trim_start().starts_with("mod ")
            && after
                .find(['{', ';'])
                .is_some_and(|i| after.as_bytes()[i] == b'{');
        if !inline {
            out.push_str(marker);
            rest = after;
            continue;
        }
        let open = after.find('{').expect("the module's brace");
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                end = open + i + 1;
                break;
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn source_routes() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let mut routes = Vec::new();
    for f in files {
        let name = f
            .strip_prefix(&dir)
            .expect("under src/api")
            .display()
            .to_string();
        // Test files (`layer_tests.rs`, `openapi/tests.rs`) route fixtures, not the API.
        if name.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read a route file");
        routes.extend(routes_in(&without_test_modules(&text), &name));
    }
    routes
}

#[test]
fn the_route_scanner_finds_chained_and_qualified_methods() {
    let src = format!(
        "Router::new(){}\"/a/{{x}}\", get(one).put(set).delete(remove)){}\"/b\", axum::routing::delete(destroy)){}\"/c\", post(delete))",
        [".route", "("].concat(),
        [".route", "("].concat(),
        [".route", "("].concat(),
    );
    let found: Vec<(String, String)> = routes_in(&src, "x.rs")
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let want: Vec<(String, String)> = [
        ("GET", "/a/{x}"),
        ("PUT", "/a/{x}"),
        ("DELETE", "/a/{x}"),
        ("DELETE", "/b"),
        ("POST", "/c"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    let (mut a, mut b) = (found, want);
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn test_modules_are_left_out_of_the_scan() {
    let src = "fn routes() {}\n#[cfg(test)]\nmod tests {\n    fn f() { let x = \"/a/{x}\"; }\n}\n#[cfg(test)]\nmod other_tests;\nfn after() {}\n";
    let kept = without_test_modules(src);
    assert!(!kept.contains("/a/{x}"), "{kept}");
    assert!(
        kept.contains("fn routes()") && kept.contains("fn after()"),
        "{kept}"
    );
    assert!(kept.contains("mod other_tests;"), "{kept}");
}

#[test]
fn the_table_has_every_route_of_the_routers_and_nothing_else() {
    let routes = source_routes();
    assert!(
        routes.len() >= 50,
        "the scan found only {} routes",
        routes.len()
    );
    let in_source: BTreeSet<(String, String)> = routes
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    let table = endpoints();
    let in_table: BTreeSet<(String, String)> = table
        .iter()
        .map(|e| (e.method.as_str().to_string(), e.path.to_string()))
        .collect();
    assert_eq!(
        in_table.len(),
        table.len(),
        "an endpoint is in the table twice"
    );
    let undocumented: Vec<_> = in_source.difference(&in_table).collect();
    let stale: Vec<_> = in_table.difference(&in_source).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "routes without a document entry: {undocumented:?}; document entries without a route: {stale:?}"
    );
    // `/metrics` is merged at the root (api/mod.rs); every other router under /api2/json.
    for (m, p, file) in &routes {
        let e = table
            .iter()
            .find(|e| e.method.as_str() == m && e.path == p)
            .expect("in the table");
        let want = if file == "metrics.rs" {
            Mount::Root
        } else {
            Mount::Api
        };
        assert_eq!(e.mount, want, "{m} {p} ({file})");
    }
}

fn doc_json() -> Value {
    serde_json::to_value(document()).expect("the document encodes")
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push(x.as_str().expect("a $ref is a string").to_string());
                } else {
                    refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_operation_is_described_with_its_privilege_and_every_ref_resolves() {
    let doc = doc_json();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let paths = doc["paths"].as_object().expect("paths");
    let mut ids = BTreeSet::new();
    for e in endpoints() {
        let method = e.method.as_str().to_ascii_lowercase();
        let op = &paths[&full_path(&e)][&method];
        let description = op["description"].as_str().expect("a description");
        assert!(
            description.contains("Required privilege: "),
            "{method} {}: {description}",
            e.path
        );
        assert_eq!(op["operationId"].as_str(), Some(operation_id(&e).as_str()));
        assert!(
            ids.insert(operation_id(&e)),
            "operation id {} twice",
            operation_id(&e)
        );
        let security = op["security"].as_array().expect("security");
        match e.access {
            super::table::Access::Public(_) => assert_eq!(security, &vec![serde_json::json!({})]),
            super::table::Access::Authenticated => {
                let names: Vec<&str> = security
                    .iter()
                    .flat_map(|s| {
                        s.as_object()
                            .expect("requirement")
                            .keys()
                            .map(String::as_str)
                    })
                    .collect();
                assert_eq!(names, ["BrigadeToken", "BrigadeAuthCookie"], "{}", e.path);
            }
        }
        for p in super::shape::path_names(e.path) {
            let params = op["parameters"].as_array().expect("parameters");
            assert!(
                params.iter().any(|x| x["name"] == p && x["in"] == "path"),
                "{}: {p}",
                e.path
            );
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["BrigadeToken"]["in"], "header");
    assert_eq!(schemes["BrigadeToken"]["name"], "Authorization");
    assert_eq!(schemes["BrigadeAuthCookie"]["in"], "cookie");
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50, "{} refs", all.len());
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .expect("a component ref");
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }
}

/// The property names of a component schema.
fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][name]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} has properties"))
        .keys()
        .cloned()
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

#[test]
fn the_mirrored_schemas_match_the_types_they_mirror() {
    let doc = doc_json();
    let sid: brigade_ha::ServiceId = "vm:100".parse().expect("sid");
    let mut resource = brigade_ha::Resource::new(sid);
    resource.group = Some("g".into());
    let resource = serde_json::to_value(&resource).expect("encode");
    assert_eq!(keys(&resource), properties(&doc, "HaResource"));
    assert_eq!(resource["sid"], "vm:100");
    assert_eq!(
        doc["components"]["schemas"]["HaResource"]["properties"]["sid"]["pattern"],
        brigade_api::schema::SERVICE_ID_PATTERN
    );
    assert_eq!(resource["state"], "started");
    let group = brigade_ha::config::Group {
        name: "g".into(),
        nodes: BTreeMap::from([("n1".to_string(), 2)]),
        restricted: false,
        nofailback: false,
    };
    assert_eq!(
        keys(&serde_json::to_value(&group).expect("encode")),
        properties(&doc, "HaGroup")
    );
    use brigade_core::cluster_conf::{ClusterConf, NodeEntry, QdeviceEntry};
    let name = |n: &str| brigade_core::NodeName::try_from(n.to_string()).expect("a node name");
    let conf = ClusterConf {
        name: "test".into(),
        config_version: 1,
        max_voters: 5,
        node_timeout_secs: 3,
        nodes: vec![NodeEntry {
            name: name("n1"),
            nodeid: 1,
            votes: 1,
            link0: "127.0.0.1".parse().expect("ip"),
            link1: None,
        }],
        qdevice: Some(QdeviceEntry {
            name: name("q"),
            nodeid: 2,
            address: "127.0.0.2".parse().expect("ip"),
        }),
    };
    let conf = serde_json::to_value(&conf).expect("encode");
    assert_eq!(keys(&conf), properties(&doc, "ClusterConf"));
    assert_eq!(keys(&conf["nodes"][0]), properties(&doc, "ClusterConfNode"));
    assert_eq!(
        keys(&conf["qdevice"]),
        properties(&doc, "ClusterConfQdevice")
    );
    assert_eq!(conf["nodes"][0]["link0"], "127.0.0.1");
    for (kind, text) in [
        (brigade_core::layout::GuestKind::Qemu, "qemu"),
        (brigade_core::layout::GuestKind::Lxc, "lxc"),
    ] {
        assert_eq!(serde_json::to_value(kind).expect("encode"), text);
    }
    assert_eq!(
        doc["components"]["schemas"]["GuestKind"]["enum"],
        serde_json::json!(["qemu", "lxc"])
    );
    assert!(brigade_core::VmId::try_from(99).is_err());
    assert!(brigade_core::VmId::try_from(100).is_ok());
    assert_eq!(doc["components"]["schemas"]["VmId"]["minimum"], 100);
}

#[test]
fn the_unauthenticated_operations_are_exactly_the_world_routes() {
    use brigade_access::requirement::Requirement;
    let doc = doc_json();
    let mut public = BTreeSet::new();
    for e in endpoints() {
        let world =
            crate::api::requirements::lookup(e.method.as_str(), e.path) == Some(Requirement::World);
        let op = &doc["paths"][&full_path(&e)][e.method.as_str().to_ascii_lowercase()];
        let open = op["security"] == serde_json::json!([{}]);
        assert_eq!(
            world,
            open,
            "{} {}: World {world}, open in the document {open}",
            e.method.as_str(),
            e.path
        );
        if open {
            assert!(
                op["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("no authentication")),
                "{}",
                e.path
            );
            public.insert(full_path(&e));
        }
    }
    for login in [
        "/api2/json/access/ticket",
        "/api2/json/access/domains",
        "/api2/json/openapi.json",
    ] {
        assert!(public.contains(login), "{login} is not open: {public:?}");
    }
}
