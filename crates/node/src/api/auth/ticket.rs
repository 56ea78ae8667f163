//! `POST /access/ticket`: log in (or renew a ticket) with a JSON or form body; the answer
//! carries the ticket (also set as the `BrigadeAuthCookie` cookie) and the CSRF token.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use brigade_access::requirement::Requirement;
use brigade_access::ticket::TICKET_COOKIE;
use brigade_api::access::{Ticket, TicketRequest};
use brigade_api::Data;
use brigade_net::serve::PeerAddr;

use super::super::{ApiError, API_BODY_MAX_BYTES};
use crate::access::login::LoginInput;
use crate::error::{BoxError, NodeError};
use crate::node::Node;

/// What each route of this file requires.
pub const REQUIREMENTS: &[(&str, &str, Requirement)] =
    &[("POST", "/access/ticket", Requirement::World)];

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/access/ticket", post(create_ticket))
}

fn parse_body(form: bool, bytes: &[u8]) -> Result<TicketRequest, NodeError> {
    let result = if form {
        serde_urlencoded::from_bytes::<TicketRequest>(bytes).map_err(BoxError::from)
    } else {
        serde_json::from_slice::<TicketRequest>(bytes).map_err(BoxError::from)
    };
    result.map_err(|e| {
        NodeError::Invalid(format!(
            "invalid login body: {e} (expected username, password and optionally otp, realm)"
        ))
    })
}

async fn create_ticket(State(node): State<Arc<Node>>, req: Request) -> Response {
    match login(&node, req).await {
        Ok(r) => r,
        Err(e) => ApiError(e).into_response(),
    }
}

async fn login(node: &Arc<Node>, req: Request) -> Result<Response, NodeError> {
    let source = req
        .extensions()
        .get::<PeerAddr>()
        .map(|p| p.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let bytes = axum::body::to_bytes(req.into_body(), API_BODY_MAX_BYTES)
        .await
        .map_err(|e| NodeError::TooLarge(format!("request body: {e}")))?;
    let body = parse_body(form, &bytes)?;
    let answer = node
        .login(LoginInput {
            username: body.username,
            realm: body.realm,
            password: body.password,
            otp: body.otp.filter(|o| !o.is_empty()),
            source,
        })
        .await?;
    let cookie = format!(
        "{TICKET_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict",
        form_urlencoded::byte_serialize(answer.ticket.as_bytes()).collect::<String>()
    );
    let data = Data {
        data: Ticket {
            username: answer.username,
            ticket: answer.ticket,
            csrf_token: answer.csrf_token,
        },
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(data)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_form_bodies_parse_alike() {
        let j = parse_body(false, br#"{"username":"alice@pve","password":"p w"}"#).expect("json");
        let f =
            parse_body(true, b"username=alice&realm=pve&password=p+w&otp=123456").expect("form");
        assert_eq!(
            (j.username.as_str(), j.password.as_str()),
            ("alice@pve", "p w")
        );
        assert_eq!(
            (
                f.username.as_str(),
                f.realm.as_deref(),
                f.password.as_str(),
                f.otp.as_deref()
            ),
            ("alice", Some("pve"), "p w", Some("123456"))
        );
        assert!(parse_body(false, br#"{"username":"a"}"#).is_err());
    }
}
