//! The HTTPS API (`/api2/json/...`): routing, authentication, errors.

mod body;
mod cluster;
mod console;
mod fs;
mod guests;
mod ha;
mod ha_rules;
mod join;
mod metrics;
mod mount;
mod qdevice;
mod storage;
mod version;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use brigade_api::{Data, ErrorBody};
use serde::Serialize;

pub use body::{ApiJson, ApiQuery, API_BODY_MAX_BYTES};

use crate::error::NodeError;
use crate::node::Node;
use crate::token;

/// A JSON answer wrapped in `data`.
pub fn ok<T: Serialize>(data: T) -> Json<Data<T>> {
    Json(Data { data })
}

/// An API error: a status and an [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError(pub NodeError);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        ApiError(e)
    }
}

impl From<brigade_cfs::CfsError> for ApiError {
    fn from(e: brigade_cfs::CfsError) -> Self {
        ApiError(NodeError::Cfs(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(ErrorBody::from(&self.0))).into_response()
    }
}

pub type ApiResult<T> = Result<Json<Data<T>>, ApiError>;

async fn authenticate(State(node): State<Arc<Node>>, req: Request, next: Next) -> Response {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return ApiError(NodeError::Unauthorized(format!(
            "missing Authorization header: send 'Authorization: {} user@realm!name=secret'",
            token::AUTH_SCHEME
        )))
        .into_response();
    };
    let parsed: Result<token::ApiToken, crate::error::BoxError> = value
        .to_str()
        .map_err(Into::into)
        .and_then(|v| token::parse_header(v).map_err(Into::into));
    let presented = match parsed {
        Ok(t) => t,
        Err(e) => {
            return ApiError(NodeError::Unauthorized(format!(
                "malformed Authorization header: {e}"
            )))
            .into_response()
        }
    };
    if !node.authenticate(&presented) {
        return ApiError(NodeError::Unauthorized(format!(
            "invalid API token {}",
            presented.id
        )))
        .into_response();
    }
    next.run(req).await
}

async fn not_found() -> ApiError {
    ApiError(NodeError::NotFound("no such API path".into()))
}

/// The whole API router.
pub fn router(node: Arc<Node>) -> Router {
    let authenticated = Router::new()
        .merge(version::routes())
        .merge(cluster::routes())
        .merge(fs::routes())
        .merge(qdevice::routes())
        .merge(guests::routes())
        .merge(ha::routes())
        .merge(ha_rules::routes())
        .merge(mount::routes())
        .merge(console::routes())
        .merge(storage::routes())
        .layer(middleware::from_fn_with_state(node.clone(), authenticate));
    let metrics =
        metrics::routes().layer(middleware::from_fn_with_state(node.clone(), authenticate));
    Router::new()
        .nest(
            "/api2/json",
            authenticated
                .merge(join::routes())
                .merge(qdevice::adopt_routes()),
        )
        .merge(metrics)
        .layer(DefaultBodyLimit::max(API_BODY_MAX_BYTES))
        .fallback(not_found)
        .with_state(node)
}
