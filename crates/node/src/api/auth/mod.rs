//! The API's authentication and authorization layer, and the login route.
//!
//! [`authenticate`] runs on every matched route, before its handler: it looks the route up in
//! the requirement table ([`super::requirements`]; a route missing there is refused with 403),
//! authenticates the caller (an API token in `Authorization: BrigadeToken ...`, or the ticket
//! cookie `BrigadeAuthCookie` with the `CSRFPreventionToken` header on every non-GET request),
//! checks the requirement with the request's parameters (the path's, then top-level fields
//! of the JSON body the handler reads; never the query, which no handler takes them from),
//! and hands the caller to the handler as the request extension [`brigade_access::Authid`].

pub mod ticket;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use brigade_access::csrf::CSRF_HEADER;
use brigade_access::requirement::{Requirement, Unmet};
use brigade_access::ticket::TICKET_COOKIE;
use brigade_access::{Authid, Permissions};
use brigade_core::layout::GuestKind;
use brigade_core::VmId;

use super::{requirements, ApiError, API_BODY_MAX_BYTES};
use crate::access::{guest_rules, now, AccessState};
use crate::error::{BoxError, NodeError};
use crate::node::Node;
use crate::token;

/// Where the API's routes are nested.
pub const API_PREFIX: &str = "/api2/json";

/// The ticket from the `Cookie` header, if one is there.
pub fn ticket_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == TICKET_COOKIE)
        .map(|(_, v)| {
            form_urlencoded::parse(format!("t={v}").as_bytes())
                .next()
                .map(|(_, t)| t.replace(' ', "+"))
                .unwrap_or_default()
        })
}

/// Who sent the request: None when it carries no credentials at all.
fn caller(
    node: &Node,
    st: &AccessState,
    headers: &HeaderMap,
    method: &str,
) -> Result<Option<Authid>, NodeError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let presented = value
            .to_str()
            .map_err(BoxError::from)
            .and_then(|v| token::parse_header(v).map_err(BoxError::from))
            .map_err(|e| NodeError::Unauthorized(format!("malformed Authorization header: {e}")))?;
        return node.token_caller(st, &presented).map(Some);
    }
    let Some(ticket) = ticket_cookie(headers) else {
        return Ok(None);
    };
    let csrf = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    node.ticket_caller(st, &ticket, csrf, method).map(Some)
}

/// The placeholders a requirement fills from the request.
fn placeholders(r: &Requirement, out: &mut Vec<String>) {
    let mut from_path = |p: &str| {
        let mut rest = p;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            out.push(rest[start + 1..start + len].to_string());
            rest = &rest[start + len + 1..];
        }
    };
    match r {
        Requirement::Perm { path, .. } | Requirement::PermModify { path } => from_path(path),
        Requirement::SelfUser => out.push("userid".into()),
        Requirement::And(all) | Requirement::Or(all) => {
            all.iter().for_each(|x| placeholders(x, out));
        }
        Requirement::World | Requirement::Authenticated | Requirement::Root => {}
    }
}

/// Top-level string and number fields of a JSON object body.
fn body_params(bytes: &[u8], params: &mut BTreeMap<String, String>) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(bytes) else {
        return;
    };
    for (k, v) in map {
        let text = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            _ => continue,
        };
        params.entry(k).or_insert(text);
    }
}

/// The handler's own answer to a body that lacks (or has a malformed) parameter the check
/// needs: its JSON error, a missing field, or a VMID that does not parse.
fn body_refusal(bytes: &[u8], missing: &[&String]) -> Option<NodeError> {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return Some(super::body::json_error(".", &e)),
    };
    let invalid = |what: String| Some(NodeError::Invalid(format!("invalid request body: {what}")));
    if let Some(name) = missing.first() {
        return invalid(super::body::describe(
            ".",
            &format!("missing field `{name}`"),
        ));
    }
    if let Some(v) = value.get("vmid") {
        if let Err(e) = serde_json::from_value::<VmId>(v.clone()) {
            return invalid(super::body::describe("vmid", &e.to_string()));
        }
    }
    None
}

/// Why the requirement is not met, as the API answers it.
fn refusal(
    perms: &Permissions<'_>,
    caller: &Authid,
    template: &str,
    params: &BTreeMap<String, String>,
    from_body: bool,
    unmet: Unmet,
) -> NodeError {
    let vmid = params.get("vmid").and_then(|v| v.parse::<VmId>().ok());
    let kind = match params.get("kind").map(String::as_str) {
        Some("qemu") => Some(GuestKind::Qemu),
        Some("lxc") => Some(GuestKind::Lxc),
        _ if template.contains("/qemu/") => Some(GuestKind::Qemu),
        _ if template.contains("/lxc/") => Some(GuestKind::Lxc),
        _ => None,
    };
    match unmet {
        Unmet::Unauthenticated => NodeError::Unauthorized("authentication required".into()),
        Unmet::RootOnly => NodeError::Forbidden(format!("{caller}: only root@pam may do this")),
        Unmet::Denied(d) => guest_rules::refuse(perms, caller, kind, vmid, d),
        Unmet::NotSelf => NodeError::Forbidden(format!("{caller}: permission check failed")),
        Unmet::MissingParam(_) | Unmet::BadPath(_) if from_body => {
            NodeError::Invalid(format!("invalid request body: {unmet}"))
        }
        Unmet::MissingParam(_) | Unmet::BadPath(_) => {
            NodeError::Invalid(format!("{unmet}: check the path's identifiers"))
        }
    }
}

/// The layer on every route: requirement lookup, authentication, the check, the caller.
pub async fn authenticate(State(node): State<Arc<Node>>, req: Request, next: Next) -> Response {
    if let Some(refused) = method_not_allowed(&req) {
        return refused;
    }
    match authorize(&node, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => ApiError(e).into_response(),
    }
}

/// The template of the route `req` matched, without the API prefix.
fn template_of(req: &Request) -> String {
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    matched
        .strip_prefix(API_PREFIX)
        .unwrap_or(&matched)
        .to_string()
}

/// The method whose requirement applies: HEAD runs a route's GET handler, so it is GET's.
fn declared_method(req: &Request) -> String {
    match req.method().as_str().to_ascii_uppercase() {
        m if m == "HEAD" => "GET".to_string(),
        m => m,
    }
}

/// A 405 with `Allow` for a method the matched path does not have (its router would answer
/// 405 too; this layer runs first and must not call it a permission problem).
fn method_not_allowed(req: &Request) -> Option<Response> {
    let template = template_of(req);
    let method = declared_method(req);
    let declared = requirements::methods_of(&template);
    if declared.is_empty() || declared.contains(&method.as_str()) {
        return None;
    }
    let allow = declared.join(", ");
    let body = brigade_api::ErrorBody {
        error: format!("{method} is not a method of {template}: use {allow}"),
        kind: brigade_api::ErrorKind::Invalid,
        cfs: None,
    };
    Some(
        (
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, allow)],
            axum::Json(body),
        )
            .into_response(),
    )
}

async fn authorize(node: &Arc<Node>, req: Request) -> Result<Request, NodeError> {
    let method = declared_method(&req);
    let template = template_of(&req);
    let template = template.as_str();
    let Some(requirement) = requirements::lookup(&method, template) else {
        tracing::error!("{method} {template} has no declared requirement: refused");
        return Err(NodeError::Forbidden(format!(
            "{method} {template} declares no permission requirement, so it is refused"
        )));
    };
    if requirement == Requirement::World {
        return Ok(req);
    }
    let st = node.access_state();
    let Some(who) = caller(node, &st, req.headers(), &method)? else {
        return Err(NodeError::Unauthorized(format!(
            "missing Authorization header: send 'Authorization: {} user@realm!name=secret' or the {TICKET_COOKIE} cookie from POST {API_PREFIX}/access/ticket",
            token::AUTH_SCHEME
        )));
    };
    let (mut parts, body) = req.into_parts();
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    if let Ok(raw) = RawPathParams::from_request_parts(&mut parts, node).await {
        for (k, v) in &raw {
            params.insert(k.to_string(), v.to_string());
        }
    }
    // A malformed VMID in the path is refused as the handler would, before any permission.
    if let Some(v) = params.get("vmid") {
        v.parse::<VmId>().map_err(NodeError::Format)?;
    }
    if params.get("node").map(String::as_str) == Some("localhost") {
        params.insert("node".into(), node.config.name.to_string());
    }
    let mut wanted = Vec::new();
    placeholders(&requirement, &mut wanted);
    let from_body = wanted.iter().any(|w| !params.contains_key(w));
    let body = if from_body {
        let bytes = axum::body::to_bytes(body, API_BODY_MAX_BYTES)
            .await
            .map_err(|e| NodeError::TooLarge(format!("request body: {e}")))?;
        body_params(&bytes, &mut params);
        let missing: Vec<&String> = wanted.iter().filter(|w| !params.contains_key(*w)).collect();
        if let Some(e) = body_refusal(&bytes, &missing) {
            return Err(e);
        }
        Body::from(bytes)
    } else {
        body
    };
    let perms = Permissions::new(&st.users, now());
    requirement
        .check(&perms, Some(&who), &|name| params.get(name).cloned())
        .map_err(|unmet| {
            let e = refusal(&perms, &who, template, &params, from_body, unmet);
            tracing::info!(caller = %who, "{method} {template} refused: {e}");
            e
        })?;
    let mut req = Request::from_parts(parts, body);
    req.extensions_mut().insert(who);
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticket_cookie_is_found_among_others_and_decoded() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=b; BrigadeAuthCookie=BRIGADE%3Aalice%40pve%3A6B49D200%3A%3Aab%2Bc; z=1"
                .parse()
                .expect("header"),
        );
        assert_eq!(
            ticket_cookie(&h).as_deref(),
            Some("BRIGADE:alice@pve:6B49D200::ab+c")
        );
        let mut plain = HeaderMap::new();
        plain.insert(
            header::COOKIE,
            "BrigadeAuthCookie=BRIGADE:a@pve:6B49D200::ab+c"
                .parse()
                .expect("header"),
        );
        assert_eq!(
            ticket_cookie(&plain).as_deref(),
            Some("BRIGADE:a@pve:6B49D200::ab+c")
        );
        assert_eq!(ticket_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn placeholders_are_collected_from_nested_requirements() {
        use brigade_access::Privilege as P;
        const R: Requirement = Requirement::And(&[
            Requirement::perm("/vms/{vmid}", &[P::VmAudit]),
            Requirement::perm("/storage/{storage}", &[P::DatastoreAudit]),
        ]);
        let mut out = Vec::new();
        placeholders(&R, &mut out);
        assert_eq!(out, vec!["vmid".to_string(), "storage".to_string()]);
        let mut params = BTreeMap::new();
        body_params(
            br#"{"vmid": 200, "config": {"x": 1}, "name": "a"}"#,
            &mut params,
        );
        assert_eq!(params.get("vmid").map(String::as_str), Some("200"));
        assert!(!params.contains_key("config"));
    }
}
