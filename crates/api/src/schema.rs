//! OpenAPI schemas of the types the wire types borrow from other crates (`brigade_core`,
//! `brigade_ha`), which do not derive `utoipa::ToSchema` themselves: each mirrors the
//! JSON its original produces (`brigade-node`'s openapi tests hold them to it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an HA service id (`vm:100`, `ct:101`) looks like: a type, then a VMID (100 to 999999999).
pub const SERVICE_ID_PATTERN: &str = "^(vm|ct):[1-9][0-9]{2,8}$";

/// VM (`qemu`) or container (`lxc`): `brigade_core::layout::GuestKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = GuestKind)]
pub enum GuestKindSchema {
    /// A QEMU virtual machine.
    Qemu,
    /// A container.
    Lxc,
}

/// A guest id (VMID), 100 to 999999999 as in Proxmox: `brigade_core::VmId`.
pub struct VmIdSchema;

impl utoipa::PartialSchema for VmIdSchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(100))
            .maximum(Some(999_999_999))
            .description(Some("A guest id (VMID), 100 to 999999999."))
            .into()
    }
}

impl ToSchema for VmIdSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "VmId".into()
    }
}

/// The parsed cluster.conf: `brigade_core::cluster_conf::ClusterConf`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ClusterConf)]
pub struct ClusterConfSchema {
    /// The cluster's name.
    pub name: String,
    /// Bumped by every change of cluster.conf.
    pub config_version: u64,
    /// How many nodes vote at most (the others are learners).
    pub max_voters: u32,
    /// How long a silent node counts as alive, in seconds.
    pub node_timeout_secs: u32,
    /// Every node.
    pub nodes: Vec<NodeEntrySchema>,
    /// The quorum device, if one is set up (a voter that never leads).
    #[serde(default)]
    pub qdevice: Option<QdeviceEntrySchema>,
}

/// One node of cluster.conf.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ClusterConfNode)]
pub struct NodeEntrySchema {
    /// Its name.
    pub name: String,
    /// Its node id.
    pub nodeid: u64,
    /// Its votes.
    pub votes: u32,
    /// Its link0 address.
    pub link0: String,
    /// Its link1 address, if it has a second link.
    pub link1: Option<String>,
}

/// The quorum device of cluster.conf.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = ClusterConfQdevice)]
pub struct QdeviceEntrySchema {
    /// Its name.
    pub name: String,
    /// Its node id.
    pub nodeid: u64,
    /// Its address.
    pub address: String,
}

/// The state an administrator asks HA for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = HaRequestState)]
pub enum RequestStateSchema {
    /// HA keeps it running.
    Started,
    /// HA keeps it stopped.
    Stopped,
    /// Stopped, and not recovered.
    Disabled,
    /// HA leaves it alone.
    Ignored,
}

/// One HA resource of `ha/resources.cfg`: `brigade_ha::Resource`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = HaResource)]
pub struct HaResourceSchema {
    /// The service id (`vm:100`, `ct:101`).
    #[schema(pattern = "^(vm|ct):[1-9][0-9]{2,8}$")]
    pub sid: String,
    /// The requested state.
    pub state: RequestStateSchema,
    /// Its HA group.
    pub group: Option<String>,
    /// Restarts on the same node before it is relocated.
    pub max_restart: u32,
    /// Relocations to other nodes before it is in error.
    pub max_relocate: u32,
    /// A free-text comment.
    pub comment: Option<String>,
    /// Move back to a higher-priority node of its node affinity when one returns.
    pub failback: bool,
}

/// One HA group: `brigade_ha::config::Group`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = HaGroup)]
pub struct HaGroupSchema {
    /// Its name.
    pub name: String,
    /// Its nodes with their priorities (higher is preferred).
    pub nodes: BTreeMap<String, i32>,
    /// Only these nodes may run its services.
    pub restricted: bool,
    /// Do not move a service back when a preferred node returns.
    pub nofailback: bool,
}
