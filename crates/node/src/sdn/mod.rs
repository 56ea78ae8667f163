//! The node side of SDN: the pending files (`sdn/*.cfg`), the configuration `sdn apply`
//! records for every node to run (`sdn/.running-config`), the API's operations on them,
//! and the loop that applies the running configuration on this node and reports it
//! (`nodes/<node>/sdn-status.json`).

mod apply_loop;
mod ops;
mod rows;

use brigade_cfs::Cfs;
use brigade_sdn::config::SdnConfig;
use brigade_sdn::subnets_cfg::SUBNETS_CFG;
use brigade_sdn::validate::validate;
use brigade_sdn::vnets_cfg::VNETS_CFG;
use brigade_sdn::zones_cfg::ZONES_CFG;
use serde::{Deserialize, Serialize};

pub use apply_loop::SDN_APPLY_INTERVAL;

use crate::error::NodeError;
use crate::ha::config_io;

/// Where `sdn apply` records the configuration every node runs (as Proxmox's
/// `/etc/pve/sdn/.running-config`): JSON of [`RunningConfig`].
pub const RUNNING_CONFIG: &str = "sdn/.running-config";

/// The configuration recorded by `sdn apply`: the three files' texts and their version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunningConfig {
    /// [`SdnConfig::version`] of the texts.
    pub version: String,
    pub zones: String,
    pub vnets: String,
    pub subnets: String,
}

impl RunningConfig {
    /// The running configuration of `cfg` (already validated).
    pub fn of(cfg: &SdnConfig) -> RunningConfig {
        let (zones, vnets, subnets) = cfg.write();
        RunningConfig {
            version: cfg.version(),
            zones,
            vnets,
            subnets,
        }
    }

    /// The parsed configuration, refused unless it is valid and its version matches.
    pub fn config(&self) -> Result<SdnConfig, NodeError> {
        let cfg = SdnConfig::parse(&self.zones, &self.vnets, &self.subnets).map_err(invalid)?;
        validate(&cfg).map_err(invalid)?;
        if cfg.version() != self.version {
            return Err(invalid(format!(
                "{RUNNING_CONFIG}: version {} does not match its content",
                self.version
            )));
        }
        Ok(cfg)
    }
}

fn invalid(e: impl std::fmt::Display) -> NodeError {
    NodeError::Invalid(e.to_string())
}

/// The pending configuration (what the files say now) and the three files' versions.
pub fn pending(cfs: &Cfs) -> Result<(SdnConfig, [u64; 3]), NodeError> {
    let (z, zv) = config_io::read(cfs, ZONES_CFG)?;
    let (v, vv) = config_io::read(cfs, VNETS_CFG)?;
    let (s, sv) = config_io::read(cfs, SUBNETS_CFG)?;
    let cfg = SdnConfig::parse(&z, &v, &s).map_err(invalid)?;
    Ok((cfg, [zv, vv, sv]))
}

/// The running configuration, if `sdn apply` ever ran.
pub fn running(cfs: &Cfs) -> Result<Option<RunningConfig>, NodeError> {
    let (text, version) = config_io::read(cfs, RUNNING_CONFIG)?;
    if version == 0 && text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| invalid(format!("{RUNNING_CONFIG}: {e}")))
}
