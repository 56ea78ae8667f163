//! `GET /api2/json/openapi.json`: the whole API as an OpenAPI document, built from the
//! endpoint table (`table.rs`) and the wire types' schemas (`brigade_api`, utoipa).

mod endpoint;
mod shape;
mod table;

#[cfg(test)]
mod client_check;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, RefOr, Required};

use crate::node::Node;
use brigade_api::ErrorBody;
use table::{Access, Answer, Body, Endpoint, Method, Mount};

/// The prefix of every route but `/metrics`.
pub const API_PREFIX: &str = "/api2/json";
/// The security scheme of API tokens.
pub const TOKEN_SCHEME: &str = "BrigadeToken";
/// The security scheme of the ticket cookie.
pub const COOKIE_SCHEME: &str = "BrigadeAuthCookie";

/// Unauthenticated: the document describes the API and holds nothing secret.
pub(super) const REQUIREMENTS: &[(&str, &str, brigade_access::requirement::Requirement)] = &[(
    "GET",
    "/openapi.json",
    brigade_access::requirement::Requirement::World,
)];

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/openapi.json", get(serve))
}

async fn serve() -> impl IntoResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| {
        document().to_json().unwrap_or_else(|e| {
            format!("{{\"error\":\"the OpenAPI document failed to encode: {e}\"}}")
        })
    });
    ([(header::CONTENT_TYPE, "application/json")], body.clone())
}

/// The path of `e` in the document (`/api2/json/...`, or `/metrics`).
pub fn full_path(e: &Endpoint) -> String {
    match e.mount {
        Mount::Api => format!("{API_PREFIX}{}", shape::openapi_template(e.path)),
        Mount::Root => shape::openapi_template(e.path),
    }
}

fn http_method(m: Method) -> HttpMethod {
    match m {
        Method::Get => HttpMethod::Get,
        Method::Post => HttpMethod::Post,
        Method::Put => HttpMethod::Put,
        Method::Delete => HttpMethod::Delete,
    }
}

/// What the description says about who may call `e`.
fn privilege_text(e: &Endpoint) -> String {
    match e.access {
        Access::Public(why) => format!("Required privilege: none, no authentication ({why})."),
        Access::Authenticated => match crate::api::requirements::describe_for(
            e.method.as_str(),
            e.path,
        ) {
            Some(req) => format!("Required privilege: {req}."),
            None => "Required privilege: none declared beyond authentication (a valid API token or ticket).".to_string(),
        },
    }
}

/// `get_nodes_node_qemu_vmid_console`: the method, then the path's segments.
pub fn operation_id(e: &Endpoint) -> String {
    let mut id = e.method.as_str().to_ascii_lowercase();
    for seg in e.path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.push_str(&seg.trim_matches(['{', '}', '*']).replace(['-', '.'], "_"));
    }
    id
}

fn json(schema: impl Into<RefOr<utoipa::openapi::schema::Schema>>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn operation(e: &Endpoint, components: &mut shape::Components) -> utoipa::openapi::path::Operation {
    let mut op = OperationBuilder::new()
        .tag(e.tag)
        .summary(Some(e.summary))
        .description(Some(format!("{}.\n\n{}", e.summary, privilege_text(e))))
        .operation_id(Some(operation_id(e)));
    for name in shape::path_names(e.path) {
        op = op.parameter(shape::path_param(e.path, name));
    }
    for p in &e.query {
        op = op.parameter(p.clone());
    }
    if let Body::Json { shape, required } = e.body {
        (shape.components)(components);
        let required = if required {
            Required::True
        } else {
            Required::False
        };
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(required))
                .content("application/json", json((shape.schema)()))
                .build(),
        ));
    }
    let ok = match e.answer {
        Answer::Data(shape) => {
            (shape.components)(components);
            let data = ObjectBuilder::new()
                .property("data", (shape.schema)())
                .required("data");
            ("200", ResponseBuilder::new().description("Success: the answer in `data`.").content("application/json", json(data)))
        }
        Answer::Raw { media, description } => (
            "200",
            ResponseBuilder::new()
                .description(description)
                .content(media, json(ObjectBuilder::new().schema_type(Type::String))),
        ),
        Answer::Upgrade(protocol) => (
            "101",
            ResponseBuilder::new().description(format!(
                "The connection is upgraded to `{protocol}` (send `Connection: Upgrade` and `Upgrade: {protocol}`): a raw byte stream to the VM's serial port."
            )),
        ),
        Answer::Document => (
            "200",
            ResponseBuilder::new()
                .description("This document (OpenAPI 3.1).")
                .content("application/json", json(ObjectBuilder::new().schema_type(Type::Object))),
        ),
    };
    let mut responses = ResponsesBuilder::new().response(ok.0, ok.1.build());
    for (status, why) in shape::ERROR_STATUSES {
        responses = responses.response(
            status.to_string(),
            ResponseBuilder::new().description(why).content(
                "application/json",
                json((shape::of::<ErrorBody>().schema)()),
            ),
        );
    }
    op = op.responses(responses.build());
    op = match e.access {
        // An empty requirement: no authentication needed.
        Access::Public(_) => op.security(SecurityRequirement::default()),
        Access::Authenticated => op
            .security(SecurityRequirement::new(TOKEN_SCHEME, Vec::<String>::new()))
            .security(SecurityRequirement::new(
                COOKIE_SCHEME,
                Vec::<String>::new(),
            )),
    };
    op.build()
}

/// The whole API as an OpenAPI document.
pub fn document() -> OpenApi {
    let mut components: shape::Components = Vec::new();
    (shape::of::<ErrorBody>().components)(&mut components);
    let mut items: BTreeMap<String, PathItem> = BTreeMap::new();
    for e in table::endpoints() {
        let op = operation(&e, &mut components);
        let item = PathItem::new(http_method(e.method), op);
        match items.get_mut(&full_path(&e)) {
            Some(existing) => existing.merge_operations(item),
            None => {
                items.insert(full_path(&e), item);
            }
        }
    }
    let mut paths = PathsBuilder::new();
    for (path, item) in items {
        paths = paths.path(path, item);
    }
    let mut schemas = ComponentsBuilder::new()
        .security_scheme(
            TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "An API token: `Authorization: BrigadeToken user@realm!name=secret`.",
            ))),
        )
        .security_scheme(
            COOKIE_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "BrigadeAuthCookie",
                "A ticket from `POST /api2/json/access/ticket`; requests other than GET also need the `CSRFPreventionToken` header.",
            ))),
        );
    components.sort_by(|a, b| a.0.cmp(&b.0));
    components.dedup_by(|a, b| a.0 == b.0);
    for (name, schema) in components {
        schemas = schemas.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("brigade API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "brigade's HTTPS API, in Proxmox VE's layout. Successful answers are `{\"data\": ...}`; errors an `ErrorBody` with a `kind`. Each operation's description names the privilege it requires.",
                ))
                .build(),
        )
        .servers(Some([Server::new("/")]))
        .paths(paths.build())
        .components(Some(schemas.build()))
        .tags(Some(
            table::TAGS
                .iter()
                .map(|(name, what)| TagBuilder::new().name(*name).description(Some(*what)).build()),
        ))
        .build()
}
