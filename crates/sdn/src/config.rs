//! The whole SDN configuration: the three files of `sdn/` parsed together.

use crate::error::Result;
use crate::subnets_cfg::{parse_subnets, write_subnets, Subnet};
use crate::vnets_cfg::{parse_vnets, write_vnets, Vnet};
use crate::zones_cfg::{parse_zones, write_zones, Zone};
use sha2::{Digest, Sha256};

/// Zones, vnets and subnets as one value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdnConfig {
    pub zones: Vec<Zone>,
    pub vnets: Vec<Vnet>,
    pub subnets: Vec<Subnet>,
}

impl SdnConfig {
    /// Parses the texts of zones.cfg, vnets.cfg and subnets.cfg (a missing file is "").
    pub fn parse(zones: &str, vnets: &str, subnets: &str) -> Result<SdnConfig> {
        Ok(SdnConfig {
            zones: parse_zones(zones)?,
            vnets: parse_vnets(vnets)?,
            subnets: parse_subnets(subnets)?,
        })
    }

    /// The three texts, in the order of [`SdnConfig::parse`].
    pub fn write(&self) -> (String, String, String) {
        (
            write_zones(&self.zones),
            write_vnets(&self.vnets),
            write_subnets(&self.subnets),
        )
    }

    /// The zone called `id`.
    pub fn zone(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// The subnets of vnet `id`.
    pub fn subnets_of<'a>(&'a self, vnet: &'a str) -> impl Iterator<Item = &'a Subnet> + 'a {
        self.subnets.iter().filter(move |s| s.vnet == vnet)
    }

    /// A version of this configuration: the SHA-256 of its canonical text (what `sdn status`
    /// compares between nodes).
    pub fn version(&self) -> String {
        let (z, v, s) = self.write();
        let mut h = Sha256::new();
        for part in [z, v, s] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}
