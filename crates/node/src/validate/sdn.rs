//! The SDN files: each of `sdn/*.cfg` parses on its own (the whole is checked by `sdn apply`),
//! `sdn/.running-config` is a whole configuration that passes validation, and a node's
//! `network.cfg` parses.

use brigade_sdn::config::SdnConfig;

use super::{invalid, FileKind};
use crate::error::NodeError;
use crate::sdn::RunningConfig;

/// One of zones.cfg, vnets.cfg, subnets.cfg: its parser names the line and the key.
pub(super) fn sdn_file(kind: &FileKind, text: &str) -> Result<(), NodeError> {
    let parsed = match kind {
        FileKind::SdnZones => SdnConfig::parse(text, "", ""),
        FileKind::SdnVnets => SdnConfig::parse("", text, ""),
        _ => SdnConfig::parse("", "", text),
    };
    parsed.map(|_| ()).map_err(invalid)
}

/// `sdn/.running-config`: JSON of [`RunningConfig`] whose configuration is valid as a whole.
pub(super) fn running(text: &str) -> Result<(), NodeError> {
    let r: RunningConfig = serde_json::from_str(text)
        .map_err(|e| invalid(format!("{}: {e}", crate::sdn::RUNNING_CONFIG)))?;
    r.config().map(|_| ())
}

/// `nodes/<node>/network.cfg`.
pub(super) fn node_network(text: &str) -> Result<(), NodeError> {
    brigade_sdn::node_net::parse_node_network(text)
        .map(|_| ())
        .map_err(invalid)
}
