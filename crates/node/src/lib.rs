//! The brigade node daemon: wires cfs and the network, serves the API, runs cluster lifecycle.

pub mod access;
pub mod access_admin;
pub mod api;
pub mod backup;
pub mod cluster_log;
pub mod cluster_ops;
pub mod config;
pub mod daemon;
pub mod delnode;
pub mod error;
pub mod faults;
pub mod format_version;
pub mod guests;
pub mod ha;
pub mod join_token;
pub mod liveness_log;
pub mod mount;
pub mod node;
pub mod rpc;
pub mod rrd;
pub mod sdn;
pub mod state_dir;
pub mod tasks;
pub mod token;
pub mod tree_writes;
pub mod validate;

pub use config::NodeConfig;
pub use error::NodeError;
pub use node::Node;
