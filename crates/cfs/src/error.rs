//! Errors of the replicated file tree: the wire type of crate `api`, since they cross the
//! RPC boundary and the API as they are.

pub use brigade_api::cfs::{CfsError, NOT_QUORATE_MSG};
