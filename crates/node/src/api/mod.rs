//! The HTTPS API (`/api2/json/...`): routing, authentication, errors.

mod access;
pub mod auth;
mod backup;
mod backup_jobs;
mod body;
mod cluster;
mod console;
mod console_ws;
mod events;
mod fs;
mod fs_history;
mod guests;
mod gzip;
mod ha;
mod ha_rules;
mod join;
mod metrics;
mod mount;
mod openapi;
mod qdevice;
pub mod requirements;
mod rrd;
mod sdn;
mod storage;
mod tasks;
mod version;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use brigade_api::{Data, ErrorBody};
use serde::Serialize;

pub use body::{ApiJson, ApiQuery, API_BODY_MAX_BYTES};

use crate::error::NodeError;
use crate::node::Node;

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

async fn not_found() -> ApiError {
    ApiError(NodeError::NotFound("no such API path".into()))
}

/// The whole API router. Every route passes [`auth::authenticate`] (its requirement from
/// [`requirements`], the caller, the check) before its handler.
pub fn router(node: Arc<Node>) -> Router {
    let api = Router::new()
        .merge(version::routes())
        .merge(cluster::routes())
        .merge(fs::routes())
        .merge(fs_history::routes())
        .merge(qdevice::routes())
        .merge(guests::routes())
        .merge(ha::routes())
        .merge(ha_rules::routes())
        .merge(sdn::routes())
        .merge(mount::routes())
        .merge(console::routes())
        .merge(console_ws::routes())
        .merge(events::routes())
        .merge(storage::routes())
        .merge(rrd::routes())
        .merge(backup::routes())
        .merge(backup_jobs::routes())
        .merge(access::routes())
        .merge(tasks::routes())
        .merge(join::routes())
        .merge(qdevice::adopt_routes())
        .merge(auth::ticket::routes())
        .merge(openapi::routes());
    protect(
        node,
        Router::new()
            .nest("/api2/json", api)
            .merge(metrics::routes()),
    )
    .merge(brigade_ui::routes())
}

/// `routes` behind the authentication layer, with the body limit and the 404 fallback.
fn protect(node: Arc<Node>, routes: Router<Arc<Node>>) -> Router {
    routes
        // Inside the authentication: tasks started by the request run for its caller.
        .route_layer(middleware::from_fn(crate::tasks::caller::scope_caller))
        .route_layer(middleware::from_fn_with_state(
            node.clone(),
            auth::authenticate,
        ))
        .layer(DefaultBodyLimit::max(API_BODY_MAX_BYTES))
        .fallback(not_found)
        // JSON answers gzipped for who takes it (streams and upgrades pass as they are).
        .layer(middleware::from_fn(gzip::gzip_json))
        // Outside everything, the fallback included: no answer before the whole body is read.
        .layer(middleware::from_fn(body::read_body_first))
        .with_state(node)
}

#[cfg(test)]
#[path = "auth/layer_tests.rs"]
mod layer_tests;
