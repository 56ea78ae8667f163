//! The wire types of brigade's API: what `node` serves and `client` sends, nothing else.
//!
//! Every request and answer body of the HTTPS API (`/api2/json/...`) and of the
//! internal RPC between nodes lives here, with serde only: no I/O, no runtime. The
//! JSON these types produce is the API's contract (the OpenAPI schemas are derived
//! from them). Successful answers are wrapped in [`Data`]; errors are an
//! [`ErrorBody`].

#![warn(missing_docs)]

pub mod access;
pub mod backup;
pub mod backup_jobs;
pub mod cfs;
pub mod cluster;
pub mod error;
pub mod fs;
pub mod fs_history;
pub mod guests;
pub mod ha;
pub mod ha_rules;
pub mod membership;
pub mod migrate;
pub mod rrd;
pub mod schema;
pub mod sdn;
pub mod storage;
pub mod tasks;
pub mod token;

pub use error::{ErrorBody, ErrorKind};

use serde::{Deserialize, Serialize};

/// Every successful answer: `{"data": ...}`, as Proxmox's API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Data<T> {
    /// The answer itself.
    pub data: T,
}
