//! Internal networking: the cluster CA, mutual TLS, TLS serving and source-bound HTTP clients.

pub mod error;
pub mod frames;
pub mod http_client;
pub mod pin;
pub mod pki;
pub mod serve;
pub mod tls;
pub mod tunnel;

pub use error::NetError;
