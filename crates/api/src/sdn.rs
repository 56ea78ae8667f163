//! SDN on the wire (`/cluster/sdn/...`, `/nodes/{node}/network`), in Proxmox VE's names:
//! zones, vnets and subnets (pending until applied), the apply, and each node's status.

use serde::{Deserialize, Serialize};

/// `POST /cluster/sdn/zones` and `PUT /cluster/sdn/zones/{zone}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneRequest {
    /// The zone id (add only): a letter, then letters or digits, at most 8.
    #[serde(default)]
    pub zone: Option<String>,
    /// `simple`, `vlan` or `vxlan` (add only).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// vxlan: the underlay addresses of the nodes, comma-separated (empty: every node's).
    #[serde(default)]
    pub peers: Option<String>,
    /// vlan: the node bridge (network.cfg) that carries the tags.
    #[serde(default)]
    pub bridge: Option<String>,
    /// The vnets' MTU (vxlan default: the link's minus 50).
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Only these nodes, comma-separated (empty: all).
    #[serde(default)]
    pub nodes: Option<String>,
}

/// One zone of `GET /cluster/sdn/zones` (the pending configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ZoneRow {
    /// The zone id.
    pub zone: String,
    /// `simple`, `vlan` or `vxlan`.
    #[serde(rename = "type")]
    pub kind: String,
    /// vxlan: the peers, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<String>,
    /// vlan: the node bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// The MTU asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The nodes it is deployed on (empty: all).
    #[serde(default)]
    pub nodes: Vec<String>,
}

/// `POST /cluster/sdn/vnets` and `PUT /cluster/sdn/vnets/{vnet}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VnetRequest {
    /// The vnet id (add only): the name of its bridge on every node, at most 8 characters.
    #[serde(default)]
    pub vnet: Option<String>,
    /// Its zone.
    #[serde(default)]
    pub zone: Option<String>,
    /// The VLAN id (vlan zone) or VNI (vxlan zone).
    #[serde(default)]
    pub tag: Option<u32>,
    /// A free-text description.
    #[serde(default)]
    pub alias: Option<String>,
    /// Whether the vnet's bridge filters VLANs (guests may use tag=).
    #[serde(default)]
    pub vlanaware: Option<bool>,
}

/// One vnet of `GET /cluster/sdn/vnets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VnetRow {
    /// The vnet id (its bridge's name).
    pub vnet: String,
    /// Its zone.
    pub zone: String,
    /// VLAN id or VNI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u32>,
    /// A free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// VLAN-aware bridge.
    #[serde(default)]
    pub vlanaware: bool,
}

/// `POST /cluster/sdn/subnets` and `PUT /cluster/sdn/subnets/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubnetRequest {
    /// The network, `10.5.0.0/24` (add only; its id becomes `<zone>-10.5.0.0-24`).
    #[serde(default)]
    pub subnet: Option<String>,
    /// Its vnet (add only).
    #[serde(default)]
    pub vnet: Option<String>,
    /// The gateway address (simple zones put it on the vnet's bridge).
    #[serde(default)]
    pub gateway: Option<String>,
    /// Masquerade traffic leaving the subnet (simple zones).
    #[serde(default)]
    pub snat: Option<bool>,
    /// `start-address=A,end-address=B` (DHCP through dnsmasq).
    #[serde(default, rename = "dhcp-range")]
    pub dhcp_range: Option<String>,
}

/// One subnet of `GET /cluster/sdn/subnets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubnetRow {
    /// The section id, `<zone>-<network>-<prefix>`.
    pub id: String,
    /// The network, `10.5.0.0/24`.
    pub cidr: String,
    /// Its zone.
    pub zone: String,
    /// Its vnet.
    pub vnet: String,
    /// The gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Source NAT.
    #[serde(default)]
    pub snat: bool,
    /// DHCP ranges, `start-address=A,end-address=B` each.
    #[serde(default)]
    pub dhcp_range: Vec<String>,
}

/// What `PUT /cluster/sdn` (apply) recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SdnApplied {
    /// The version every node now applies (SHA-256 of the configuration).
    pub version: String,
}

/// One node's line of `GET /cluster/sdn/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SdnNodeStatus {
    /// The node.
    pub node: String,
    /// `available` (the running version is applied), `pending` or `error`.
    pub state: String,
    /// The version it last applied without error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_version: Option<String>,
    /// The errors of its last attempt.
    #[serde(default)]
    pub errors: Vec<String>,
}

/// `GET /cluster/sdn/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SdnStatus {
    /// The version `sdn apply` last recorded (none before the first apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Whether the files differ from what was applied (run `brigade sdn apply`).
    pub pending: bool,
    /// Every cluster node.
    pub nodes: Vec<SdnNodeStatus>,
}

/// One bridge of `GET /nodes/{node}/network`: from its network.cfg or a vnet of the
/// running SDN configuration deployed there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NetworkRow {
    /// The bridge's name.
    pub iface: String,
    /// `bridge` (network.cfg) or `vnet` (SDN).
    #[serde(rename = "type")]
    pub kind: String,
    /// network.cfg: the enslaved ports.
    #[serde(default)]
    pub ports: Vec<String>,
    /// vnet: its zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Its address, `10.0.0.1/24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// VLAN-aware.
    #[serde(default)]
    pub vlan_aware: bool,
}
