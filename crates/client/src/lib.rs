//! Typed HTTP client of brigade's API.

mod access;
mod auth;
mod backup;
mod backup_jobs;
mod byte_stream;
mod events;
pub use events::Events;
mod fs;
mod fs_history;
mod guests;
mod ha;
mod ha_rules;
mod sdn;
pub mod tasks;

pub use auth::{Ticket, CSRF_HEADER, TICKET_COOKIE};
pub use fs::Watch;
pub use guests::GUEST_TIMEOUT;

use std::net::IpAddr;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use brigade_api::{Data, ErrorBody, ErrorKind};
use brigade_net::{http_client, tls};

pub use brigade_api;
pub use brigade_api::cluster::*;
pub use brigade_api::fs::*;
pub use brigade_api::guests::GuestLocation;

/// Default timeout of one API request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of a join (it waits until the node votes).
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(90);

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node answered with an error.
    #[error("{message}")]
    Api {
        status: u16,
        /// What kind of refusal (`http` when the answer was no API error body).
        kind: ErrorKind,
        message: String,
    },
    /// The node could not be reached or the connection broke.
    #[error("cannot reach {url}: {message}")]
    Transport { url: String, message: String },
    /// The answer was not what the API promises.
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
    /// Client set-up failed (TLS material, addresses).
    #[error("client setup: {0}")]
    Setup(String),
}

impl ClientError {
    /// The API error kind (`not_quorate`, `cfs`, ...), if the node answered.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ClientError::Api { kind, .. } => Some(*kind),
            _ => None,
        }
    }
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of one node's API.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
    /// A login ticket, used when no token is given.
    ticket: Option<Ticket>,
}

/// How to reach a node.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// `https://IP:PORT`.
    pub url: String,
    /// PEM of the CA (or self-signed certificate) to trust.
    pub ca_pem: String,
    /// `user@realm!name=secret`.
    pub token: Option<String>,
    /// Source address to bind outgoing connections to.
    pub local_addr: Option<IpAddr>,
    pub timeout: Option<Duration>,
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client, ClientError> {
        let tls = tls::client_config(&opts.ca_pem, None)
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        let http = http_client::build(tls, opts.local_addr, None)
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(Client {
            base: opts.url.trim_end_matches('/').to_string(),
            http,
            token: opts.token,
            ticket: None,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.authorized(
            self.http
                .request(method, format!("{}/api2/json{path}", self.base)),
        )
    }

    /// Adds the API token, or else the ticket cookie and its CSRF header, if any.
    fn authorized(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match (&self.token, &self.ticket) {
            (Some(t), _) => r.header(
                reqwest::header::AUTHORIZATION,
                brigade_api::token::authorization(t),
            ),
            (None, Some(t)) => auth::with_ticket(r, t),
            (None, None) => r,
        }
    }

    fn transport(&self, e: reqwest::Error) -> ClientError {
        // reqwest's own words ("error sending request for url ...") do not say why:
        // the reason (connection refused, a certificate not trusted) is in its sources.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let text = s.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            source = s.source();
        }
        ClientError::Transport {
            url: self.base.clone(),
            message,
        }
    }

    /// The error an unsuccessful answer carries (its body read here).
    pub(crate) async fn error_answer(&self, resp: reqwest::Response) -> ClientError {
        let status = resp.status();
        match resp.bytes().await {
            Ok(body) => api_error(status, &body),
            Err(e) => self.transport(e),
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        serde_json::from_slice::<Data<T>>(&bytes)
            .map(|d| d.data)
            .map_err(|e| ClientError::Decode {
                url: self.base.clone(),
                message: e.to_string(),
            })
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        self.send(
            self.request(reqwest::Method::GET, path)
                .query(query)
                .timeout(REQUEST_TIMEOUT),
        )
        .await
    }

    /// A request with a JSON body.
    async fn with_body<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(
            self.request(method, path)
                .json(body)
                .timeout(REQUEST_TIMEOUT),
        )
        .await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.with_body(reqwest::Method::POST, path, body).await
    }

    pub async fn put<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.with_body(reqwest::Method::PUT, path, body).await
    }

    /// Sends a raw body (for testing how the node treats malformed input).
    pub async fn post_raw(
        &self,
        path: &str,
        body: &'static str,
    ) -> Result<serde_json::Value, ClientError> {
        let req = self
            .request(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send(req).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(
            self.request(reqwest::Method::DELETE, path)
                .timeout(REQUEST_TIMEOUT),
        )
        .await
    }

    // ---- cluster ----

    pub async fn version(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/version", &[]).await
    }

    pub async fn cluster_create(&self, name: &str) -> Result<CreateResult, ClientError> {
        self.post("/cluster/create", &CreateRequest { name: name.into() })
            .await
    }

    pub async fn join_token(&self) -> Result<JoinTokenResult, ClientError> {
        self.post("/cluster/join-token", &serde_json::json!({}))
            .await
    }

    pub async fn cluster_join(
        &self,
        address: &str,
        token: &str,
    ) -> Result<JoinResult, ClientError> {
        let req = JoinRequest {
            address: address.into(),
            token: token.into(),
        };
        self.send(
            self.request(reqwest::Method::POST, "/cluster/join")
                .json(&req)
                .timeout(JOIN_TIMEOUT),
        )
        .await
    }

    pub async fn nodes(&self) -> Result<Vec<NodeRow>, ClientError> {
        self.get("/cluster/nodes", &[]).await
    }

    /// Removes a node; refused while guest configs are under `nodes/NAME` unless `force`.
    pub async fn delnode(&self, name: &str, force: bool) -> Result<(), ClientError> {
        let force = if force { "true" } else { "false" };
        self.send(
            self.request(reqwest::Method::DELETE, &format!("/cluster/nodes/{name}"))
                .query(&[("force", force)])
                .timeout(REQUEST_TIMEOUT),
        )
        .await
    }

    /// `GET /metrics` (Prometheus text).
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let r = self.authorized(
            self.http
                .get(format!("{}/metrics", self.base))
                .timeout(REQUEST_TIMEOUT),
        );
        let resp = r.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(ClientError::Api {
                status: status.as_u16(),
                kind: ErrorKind::Http,
                message: text,
            });
        }
        Ok(text)
    }

    pub async fn qdevice_remove(&self) -> Result<(), ClientError> {
        self.delete("/cluster/qdevice").await
    }

    /// Asks the qdevice at `qdevice_url` to join the cluster of `member` with `token`
    /// (`fingerprint` pins its certificate; without it, any certificate is accepted).
    pub async fn qdevice_adopt(
        qdevice_url: &str,
        fingerprint: Option<String>,
        member: &str,
        token: &str,
    ) -> Result<JoinResult, ClientError> {
        let tls = tls::leaf_pinned_client_config(fingerprint)
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        let http =
            http_client::build(tls, None, None).map_err(|e| ClientError::Setup(e.to_string()))?;
        let c = Client {
            base: qdevice_url.trim_end_matches('/').to_string(),
            http,
            token: None,
            ticket: None,
        };
        let req = JoinRequest {
            address: member.into(),
            token: token.into(),
        };
        c.send(
            c.request(reqwest::Method::POST, "/qdevice/adopt")
                .json(&req)
                .timeout(JOIN_TIMEOUT),
        )
        .await
    }

    pub async fn status(&self) -> Result<ClusterStatus, ClientError> {
        self.get("/cluster/status", &[]).await
    }

    /// The newest `max` events of the cluster log (all with 0; the node's default with
    /// None), oldest first.
    pub async fn cluster_log(
        &self,
        max: Option<usize>,
    ) -> Result<Vec<ClusterLogEntry>, ClientError> {
        let max = max.map(|m| m.to_string());
        let query = max.iter().map(|m| ("max", m.as_str())).collect::<Vec<_>>();
        self.get("/cluster/log", &query).await
    }

    /// Raises the cluster's format version to the highest every member speaks.
    pub async fn format_upgrade(&self) -> Result<FormatUpgradeResult, ClientError> {
        self.post("/cluster/format/upgrade", &serde_json::json!({}))
            .await
    }
}

/// An API error from an answer's status and body (an [`ErrorBody`], or any text a proxy sent).
fn api_error(status: reqwest::StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => ClientError::Api {
            status: status.as_u16(),
            kind: b.kind,
            message: b.error,
        },
        Err(_) => ClientError::Api {
            status: status.as_u16(),
            kind: ErrorKind::Http,
            message: format!("HTTP {status}: {}", String::from_utf8_lossy(body)),
        },
    }
}
