//! The pieces the endpoint table is made of: body and answer shapes (a wire type's
//! schema, a list of them, nothing), path parameters by name, the error answers.

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Ref, Schema, Type};
use utoipa::openapi::{RefOr, Required};
use utoipa::{IntoParams, ToSchema};

/// Named schemas a shape needs in `components/schemas`.
pub type Components = Vec<(String, RefOr<Schema>)>;

/// A JSON shape: its schema (usually a reference) and the named schemas it needs.
#[derive(Clone, Copy)]
pub struct Shape {
    /// The schema in place (a `$ref` for a wire type).
    pub schema: fn() -> RefOr<Schema>,
    /// Adds every named schema the shape refers to.
    pub components: fn(&mut Components),
}

fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

fn register<T: ToSchema>(out: &mut Components) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

fn list_of<T: ToSchema>() -> RefOr<Schema> {
    ArrayBuilder::new().items(reference::<T>()).into()
}

fn none(_: &mut Components) {}

/// One wire type.
pub fn of<T: ToSchema>() -> Shape {
    Shape {
        schema: reference::<T>,
        components: register::<T>,
    }
}

/// A JSON array of a wire type.
pub fn list<T: ToSchema>() -> Shape {
    Shape {
        schema: list_of::<T>,
        components: register::<T>,
    }
}

/// `null`: the answer of an operation that has nothing to say but that it worked.
pub fn null() -> Shape {
    Shape {
        schema: || ObjectBuilder::new().schema_type(Type::Null).into(),
        components: none,
    }
}

/// The query parameters of a query type.
pub fn query<Q: IntoParams>() -> Vec<Parameter> {
    Q::into_params(|| Some(ParameterIn::Query))
}

/// The names of a route template's path parameters, in order (`{node}` → `node`; a
/// wildcard `{*poolid}` → `poolid`).
pub fn path_names(template: &str) -> Vec<&str> {
    template
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| name.trim_start_matches('*'))
        .collect()
}

/// A route template as an OpenAPI path: a wildcard `{*poolid}` is the parameter `{poolid}`.
pub fn openapi_template(template: &str) -> String {
    template.replace("{*", "{")
}

fn string(description: &str) -> (RefOr<Schema>, String) {
    (
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .into(),
        description.to_string(),
    )
}

/// The schema and description of a path parameter, by its name in the route template:
/// the same name means the same thing in every route.
pub fn path_param(template: &str, name: &str) -> Parameter {
    let (schema, description) = match name {
        "node" => (
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[a-z][a-z0-9-]{0,62}$"))
                .into(),
            "A node name (a DNS label), or `localhost` for the answering node.".to_string(),
        ),
        "kind" => (
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["qemu", "lxc"]))
                .into(),
            "The guest type: `qemu` (VM) or `lxc` (container).".to_string(),
        ),
        "vmid" => (
            <brigade_api::schema::VmIdSchema as utoipa::PartialSchema>::schema(),
            "The guest's VMID.".to_string(),
        ),
        "action" => (
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["start", "stop", "shutdown", "reboot"]))
                .into(),
            "What to do to the guest.".to_string(),
        ),
        "upid" => string("The task's UPID."),
        "sid" => (
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(brigade_api::schema::SERVICE_ID_PATTERN))
                .into(),
            "An HA service id: `vm:VMID` or `ct:VMID`.".to_string(),
        ),
        "name" => string("A name (of a node, or an HA group)."),
        "rule" => string("An HA rule id."),
        "id" if template.starts_with("/access/tfa/") => string(
            "A second factor's id (a TOTP factor's id, or `recovery` for the recovery codes).",
        ),
        "id" => string("A storage id."),
        "userid" => string("A user: `name@realm`."),
        "tokenid" => string("An API token's name (the part after `!`)."),
        "groupid" => string("A group id."),
        "roleid" => string("A role id."),
        "poolid" => string("A pool id (up to 3 levels `a/b/c`)."),
        other => string(&format!("The {other}.")),
    };
    // An example names what a small cluster has (its first node answers as localhost).
    let example = match name {
        "node" => Some(serde_json::json!("localhost")),
        "kind" => Some(serde_json::json!("qemu")),
        "vmid" => Some(serde_json::json!(100)),
        "action" => Some(serde_json::json!("start")),
        "sid" => Some(serde_json::json!("vm:100")),
        "name" => Some(serde_json::json!("n1")),
        "id" if !template.starts_with("/access/tfa/") => Some(serde_json::json!("local")),
        _ => None,
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .example(example)
        .build()
}

/// The error statuses every operation may answer, each with an `ErrorBody`: the statuses
/// `NodeError::status` maps to (a 500 is a bug, so it is not documented).
pub const ERROR_STATUSES: [(u16, &str); 9] = [
    (400, "Bad input: a malformed body, path, config or argument."),
    (401, "No valid API token or ticket."),
    (403, "The caller lacks the privilege this endpoint requires."),
    (404, "No such guest, node, path or API path."),
    (409, "The request conflicts with the state (exists, locked, running, not in a cluster, lacking memory or storage)."),
    (413, "A body, file or tree over its limit."),
    (502, "A peer failed or answered wrongly."),
    (503, "The node cannot serve now: no quorum, no leader, a peer it needs is offline."),
    (504, "A write was sent but its commit was not seen in time: its outcome is unknown."),
];
