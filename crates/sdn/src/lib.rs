//! brigade-sdn: guest networks modelled on Proxmox SDN (zones, vnets, subnets) and node bridges.
//!
//! The cluster-wide configuration lives in the replicated tree as `sdn/zones.cfg`,
//! `sdn/vnets.cfg` and `sdn/subnets.cfg` (Proxmox section-config format), and each node's
//! own bridges in `nodes/<node>/network.cfg` (ifupdown2-style stanzas, see [`node_net`]).
//! Everything from text to the list of `ip`/`bridge` steps is pure: [`config`] parses,
//! [`validate`] refuses a broken configuration before anything is applied, [`plan`] computes
//! the devices one node should have, [`current`] parses what the kernel reports, [`diff`]
//! turns the difference into ordered steps and [`apply`] runs them (in a network namespace
//! when asked). Only devices whose `ifalias` starts with [`OWNED_ALIAS_PREFIX`] are ever
//! changed or removed. [`nic`] parses guest NICs (`netN`), [`plug`] turns one into the
//! commands plugging its TAP or veth into a bridge, [`dhcp`] runs dnsmasq for a simple zone,
//! [`status`] is what each node reports (`nodes/<node>/sdn-status.json`).
//!
//! ```text
//! # sdn/zones.cfg                 # sdn/vnets.cfg          # sdn/subnets.cfg
//! simple: lan                     vnet: web                subnet: lan-10.5.0.0-24
//!     mtu 1500                        zone ovl                 vnet db
//!                                     tag 100                  gateway 10.5.0.1
//! vlan: office                        alias web tier           snat 1
//!     bridge vmbr0                                             dhcp-range start-address=10.5.0.10,end-address=10.5.0.99
//!                                 vnet: db
//! vxlan: ovl                          zone lan
//!     peers 10.0.0.1,10.0.0.2
//!     mtu 1450
//! ```
//!
//! Devices on a node: a bridge per vnet named like it; `vxlan_<vnet>` for vxlan zones;
//! `ln_<vnet>`/`pr_<vnet>` veth pairs (or `<port>.<tag>`) for vlan zones; the bridges of
//! network.cfg; guest ends `tap<vmid>i<n>` / `veth<vmid>i<n>` (alias `brigade:nic:netN`,
//! never touched by `sdn apply`).

pub mod apply;
pub mod cidr;
pub mod command;
pub mod config;
pub mod current;
pub mod dhcp;
pub mod diff;
pub mod error;
pub mod mac;
pub mod nic;
pub mod node_net;
pub mod plan;
pub mod plug;
pub mod section;
#[cfg(test)]
mod simulate;
pub mod status;
pub mod step;
pub mod subnets_cfg;
pub mod validate;
pub mod vnets_cfg;
pub mod zones_cfg;

pub use error::{Result, SdnError};

/// The `ifalias` prefix of every device `sdn apply` created; nothing else is touched.
pub const OWNED_ALIAS_PREFIX: &str = "brigade:sdn:";
/// The `ifalias` prefix of guest NIC devices (TAP, veth) plugged by the guest driver.
pub const NIC_ALIAS_PREFIX: &str = "brigade:nic:";
/// Linux's limit on interface names (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;
/// Proxmox's limit on vnet and zone names (so `vxlan_<vnet>` and `ln_<vnet>` fit).
pub const MAX_SDN_ID_LEN: usize = 8;

/// Whether `name` is a usable Linux interface name: 1-15 chars, no `/`, whitespace, `:`.
pub fn is_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_IFNAME_LEN
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Whether `id` is a valid zone or vnet id as Proxmox has them: a letter, then letters or
/// digits, at most 8 characters.
pub fn is_sdn_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && id.len() <= MAX_SDN_ID_LEN
        && chars.all(|c| c.is_ascii_alphanumeric())
}
