//! HA: the cluster resource manager (CRM) and local resource managers (LRM) as pure
//! state machines with ha-manager's states, placement, timing, and a deterministic
//! simulator that runs them against a fake cluster in virtual time.

pub mod config;
pub mod crm;
pub mod crs;
pub mod lease;
pub mod lrm;
pub mod rules;
pub mod service_id;
pub mod sim;
pub mod status;
pub mod timing;

pub use config::{Group, GroupsConfig, Resource, ResourcesConfig};
pub use service_id::ServiceId;
pub use status::{
    LrmMode, LrmResult, LrmStatus, ManagerStatus, NodeState, ServiceState, ServiceStatus,
};
pub use timing::Timing;

/// Why HA input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HaError {
    #[error("{0}")]
    Invalid(String),
}
