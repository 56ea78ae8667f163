//! The shape of one row of the endpoint table: method, mount, access, body, answer, and
//! the builders the table is written with.

use utoipa::openapi::path::Parameter;

use super::shape::{null, Shape};

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    /// Upper case, as `requirements::describe_for` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Under which prefix the route is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount {
    /// `/api2/json` (every route but one).
    Api,
    /// The server's root (`/metrics`).
    Root,
}

/// Who may call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// An API token (`Authorization: BrigadeToken ...`) or a ticket cookie.
    Authenticated,
    /// Anyone: the reason why is in the description.
    Public(&'static str),
}

/// A request body.
#[derive(Clone, Copy)]
pub enum Body {
    /// None.
    Empty,
    /// JSON of this shape; `required` false when an empty body means the defaults.
    Json { shape: Shape, required: bool },
}

/// A successful answer.
#[derive(Clone, Copy)]
pub enum Answer {
    /// 200 with `{"data": SHAPE}`.
    Data(Shape),
    /// 200 with a body of this media type that is not JSON (a stream, text), described.
    Raw {
        media: &'static str,
        description: &'static str,
    },
    /// 101: the connection is upgraded to the named protocol.
    Upgrade(&'static str),
    /// 200 with this OpenAPI document.
    Document,
}

/// One endpoint.
pub struct Endpoint {
    pub method: Method,
    /// The route template, exactly as in `.route(...)`.
    pub path: &'static str,
    pub mount: Mount,
    pub summary: &'static str,
    pub tag: &'static str,
    pub access: Access,
    pub query: Vec<Parameter>,
    pub body: Body,
    pub answer: Answer,
}

impl Endpoint {
    pub(super) fn new(
        method: Method,
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
    ) -> Self {
        Endpoint {
            method,
            path,
            mount: Mount::Api,
            summary,
            tag,
            access: Access::Authenticated,
            query: Vec::new(),
            body: Body::Empty,
            answer: Answer::Data(null()),
        }
    }
    pub(super) fn answers(mut self, s: Shape) -> Self {
        self.answer = Answer::Data(s);
        self
    }
    pub(super) fn body(mut self, s: Shape) -> Self {
        self.body = Body::Json {
            shape: s,
            required: true,
        };
        self
    }
    pub(super) fn optional_body(mut self, s: Shape) -> Self {
        self.body = Body::Json {
            shape: s,
            required: false,
        };
        self
    }
    pub(super) fn query(mut self, q: Vec<Parameter>) -> Self {
        self.query = q;
        self
    }
    pub(super) fn public(mut self, why: &'static str) -> Self {
        self.access = Access::Public(why);
        self
    }
}

pub(super) fn get(path: &'static str, tag: &'static str, summary: &'static str) -> Endpoint {
    Endpoint::new(Method::Get, path, tag, summary)
}
pub(super) fn post(path: &'static str, tag: &'static str, summary: &'static str) -> Endpoint {
    Endpoint::new(Method::Post, path, tag, summary)
}
pub(super) fn put(path: &'static str, tag: &'static str, summary: &'static str) -> Endpoint {
    Endpoint::new(Method::Put, path, tag, summary)
}
pub(super) fn delete(path: &'static str, tag: &'static str, summary: &'static str) -> Endpoint {
    Endpoint::new(Method::Delete, path, tag, summary)
}
