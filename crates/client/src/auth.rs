//! Ticket authentication: `POST /access/ticket` (login, renewal) and the ticket cookie with
//! its CSRF header on later requests.

use serde::Serialize;

use super::{Client, ClientError, REQUEST_TIMEOUT};

/// The cookie that carries the ticket.
pub const TICKET_COOKIE: &str = "BrigadeAuthCookie";
/// The header every non-GET request authenticated by ticket needs.
pub const CSRF_HEADER: &str = "CSRFPreventionToken";

/// A login: the user, its ticket and CSRF token (Proxmox's field names).
pub use brigade_api::access::Ticket;

#[derive(Serialize)]
struct LoginBody<'a> {
    username: &'a str,
    password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    otp: Option<&'a str>,
}

/// Adds the ticket cookie and the CSRF header (harmless on GET).
pub(crate) fn with_ticket(r: reqwest::RequestBuilder, t: &Ticket) -> reqwest::RequestBuilder {
    let cookie = form_urlencoded::byte_serialize(t.ticket.as_bytes()).collect::<String>();
    r.header(reqwest::header::COOKIE, format!("{TICKET_COOKIE}={cookie}"))
        .header(CSRF_HEADER, &t.csrf_token)
}

impl Client {
    /// This client, authenticating with `ticket` (when it has no API token).
    pub fn with_ticket(mut self, ticket: Ticket) -> Client {
        self.ticket = Some(ticket);
        self
    }

    /// Logs in (`password` may be a valid ticket of the same user, which renews it).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        otp: Option<&str>,
    ) -> Result<Ticket, ClientError> {
        let body = LoginBody {
            username,
            password,
            otp,
        };
        let req = self
            .http
            .post(format!("{}/api2/json/access/ticket", self.base))
            .json(&body)
            .timeout(REQUEST_TIMEOUT);
        self.send(req).await
    }
}
