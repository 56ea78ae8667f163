//! SDN behind the API: list, add, change and remove zones, vnets and subnets (the pending
//! files), `sdn apply` (the whole pending configuration validated, then recorded in
//! [`RUNNING_CONFIG`] for every node), the cluster's status and a node's bridges.

use brigade_api::sdn::{
    NetworkRow, SdnApplied, SdnNodeStatus, SdnStatus, SubnetRequest, SubnetRow, VnetRequest,
    VnetRow, ZoneRequest, ZoneRow,
};
use brigade_sdn::config::SdnConfig;
use brigade_sdn::node_net::{node_network_path, parse_node_network};
use brigade_sdn::status::{status_path, NodeSdnStatus};
use brigade_sdn::subnets_cfg::SUBNETS_CFG;
use brigade_sdn::vnets_cfg::VNETS_CFG;
use brigade_sdn::zones_cfg::ZONES_CFG;

use super::{invalid, pending, rows, running, RunningConfig, RUNNING_CONFIG};
use crate::error::NodeError;
use crate::ha::config_io;
use crate::ha::rules_io::write_op;
use crate::node::Node;

/// Which of the three files a change touches.
#[derive(Clone, Copy)]
enum File {
    Zones,
    Vnets,
    Subnets,
}

fn not_found(what: &str, id: &str) -> NodeError {
    NodeError::NotFound(format!("{what} {id:?} does not exist"))
}

impl Node {
    fn sdn_pending(&self) -> Result<(SdnConfig, [u64; 3]), NodeError> {
        pending(&self.require_cluster()?.cfs)
    }

    /// Writes one file of `cfg` if it did not change since `versions` were read.
    async fn sdn_write(
        &self,
        cfg: &SdnConfig,
        versions: [u64; 3],
        file: File,
    ) -> Result<(), NodeError> {
        let (z, v, s) = cfg.write();
        let op = match file {
            File::Zones => write_op(ZONES_CFG, z, versions[0])?,
            File::Vnets => write_op(VNETS_CFG, v, versions[1])?,
            File::Subnets => write_op(SUBNETS_CFG, s, versions[2])?,
        };
        self.require_cluster()?.cfs.propose(op).await?;
        Ok(())
    }

    pub fn sdn_zones(&self) -> Result<Vec<ZoneRow>, NodeError> {
        Ok(self
            .sdn_pending()?
            .0
            .zones
            .iter()
            .map(rows::zone_row)
            .collect())
    }

    /// Adds (`id` None) or changes a zone.
    pub async fn sdn_zone_put(
        &self,
        id: Option<&str>,
        req: &ZoneRequest,
    ) -> Result<ZoneRow, NodeError> {
        let (mut cfg, versions) = self.sdn_pending()?;
        let pos = match id {
            Some(id) => Some(
                cfg.zones
                    .iter()
                    .position(|z| z.id == id)
                    .ok_or_else(|| not_found("zone", id))?,
            ),
            None => None,
        };
        let zone = rows::zone(pos.map(|i| &cfg.zones[i]), req)?;
        match pos {
            Some(i) => cfg.zones[i] = zone.clone(),
            None if cfg.zone(&zone.id).is_some() => {
                return Err(NodeError::Conflict(format!(
                    "zone {} already exists",
                    zone.id
                )))
            }
            None => cfg.zones.push(zone.clone()),
        }
        self.sdn_write(&cfg, versions, File::Zones).await?;
        Ok(rows::zone_row(&zone))
    }

    /// Removes a zone no vnet uses.
    pub async fn sdn_zone_remove(&self, id: &str) -> Result<(), NodeError> {
        let (mut cfg, versions) = self.sdn_pending()?;
        if let Some(v) = cfg.vnets.iter().find(|v| v.zone == id) {
            return Err(NodeError::Conflict(format!(
                "zone {id} is used by vnet {}: remove the vnet first",
                v.id
            )));
        }
        let before = cfg.zones.len();
        cfg.zones.retain(|z| z.id != id);
        if cfg.zones.len() == before {
            return Err(not_found("zone", id));
        }
        self.sdn_write(&cfg, versions, File::Zones).await
    }

    pub fn sdn_vnets(&self) -> Result<Vec<VnetRow>, NodeError> {
        Ok(self
            .sdn_pending()?
            .0
            .vnets
            .iter()
            .map(rows::vnet_row)
            .collect())
    }

    /// Adds (`id` None) or changes a vnet.
    pub async fn sdn_vnet_put(
        &self,
        id: Option<&str>,
        req: &VnetRequest,
    ) -> Result<VnetRow, NodeError> {
        let (mut cfg, versions) = self.sdn_pending()?;
        let pos = match id {
            Some(id) => Some(
                cfg.vnets
                    .iter()
                    .position(|v| v.id == id)
                    .ok_or_else(|| not_found("vnet", id))?,
            ),
            None => None,
        };
        let vnet = rows::vnet(pos.map(|i| &cfg.vnets[i]), req)?;
        match pos {
            Some(i) => cfg.vnets[i] = vnet.clone(),
            None if cfg.vnets.iter().any(|v| v.id == vnet.id) => {
                return Err(NodeError::Conflict(format!(
                    "vnet {} already exists",
                    vnet.id
                )))
            }
            None => cfg.vnets.push(vnet.clone()),
        }
        self.sdn_write(&cfg, versions, File::Vnets).await?;
        Ok(rows::vnet_row(&vnet))
    }

    /// Removes a vnet without subnets.
    pub async fn sdn_vnet_remove(&self, id: &str) -> Result<(), NodeError> {
        let (mut cfg, versions) = self.sdn_pending()?;
        if let Some(s) = cfg.subnets_of(id).next() {
            return Err(NodeError::Conflict(format!(
                "vnet {id} has subnet {}: remove the subnet first",
                s.id()
            )));
        }
        let before = cfg.vnets.len();
        cfg.vnets.retain(|v| v.id != id);
        if cfg.vnets.len() == before {
            return Err(not_found("vnet", id));
        }
        self.sdn_write(&cfg, versions, File::Vnets).await
    }

    pub fn sdn_subnets(&self) -> Result<Vec<SubnetRow>, NodeError> {
        Ok(self
            .sdn_pending()?
            .0
            .subnets
            .iter()
            .map(rows::subnet_row)
            .collect())
    }

    /// Adds (`id` None) or changes a subnet.
    pub async fn sdn_subnet_put(
        &self,
        id: Option<&str>,
        req: &SubnetRequest,
    ) -> Result<SubnetRow, NodeError> {
        let (mut cfg, versions) = self.sdn_pending()?;
        let pos = match id {
            Some(id) => Some(
                cfg.subnets
                    .iter()
                    .position(|s| s.id() == id)
                    .ok_or_else(|| not_found("subnet", id))?,
            ),
            None => None,
        };
        let zone_of = |vnet: &str| {
            cfg.vnets
                .iter()
                .find(|v| v.id == vnet)
                .map(|v| v.zone.clone())
        };
        let subnet = rows::subnet(pos.map(|i| &cfg.subnets[i]), req, zone_of)?;
        match pos {
            Some(i) => cfg.subnets[i] = subnet.clone(),
            None if cfg.subnets.iter().any(|s| s.id() == subnet.id()) => {
                return Err(NodeError::Conflict(format!(
                    "subnet {} already exists",
                    subnet.id()
                )))
            }
            None => cfg.subnets.push(subnet.clone()),
        }
        self.sdn_write(&cfg, versions, File::Subnets).await?;
        Ok(rows::subnet_row(&subnet))
    }

    pub async fn sdn_subnet_remove(&self, id: &str) -> Result<(), NodeError> {
        let (mut cfg, versions) = self.sdn_pending()?;
        let before = cfg.subnets.len();
        cfg.subnets.retain(|s| s.id() != id);
        if cfg.subnets.len() == before {
            return Err(not_found("subnet", id));
        }
        self.sdn_write(&cfg, versions, File::Subnets).await
    }

    /// `sdn apply`: the pending configuration, validated as a whole, becomes the one every
    /// node runs. A refused configuration changes nothing anywhere.
    pub async fn sdn_apply(&self) -> Result<SdnApplied, NodeError> {
        let rt = self.require_cluster()?;
        let (cfg, _) = pending(&rt.cfs)?;
        brigade_sdn::validate::validate(&cfg).map_err(invalid)?;
        let run = RunningConfig::of(&cfg);
        let (_, version) = config_io::read(&rt.cfs, RUNNING_CONFIG)?;
        let text = serde_json::to_string_pretty(&run).map_err(NodeError::internal)?;
        rt.cfs
            .propose(write_op(RUNNING_CONFIG, text, version)?)
            .await?;
        Ok(SdnApplied {
            version: run.version,
        })
    }

    /// Every node's state against the running version.
    pub fn sdn_status(&self) -> Result<SdnStatus, NodeError> {
        let rt = self.require_cluster()?;
        let run = running(&rt.cfs)?;
        let (cfg, _) = pending(&rt.cfs)?;
        let version = run.as_ref().map(|r| r.version.clone());
        let conf = crate::cluster_ops::read_cluster_conf(&rt.cfs)?;
        let mut nodes = Vec::new();
        for n in &conf.nodes {
            let name = n.name.to_string();
            let st = read_status(&rt.cfs, &name);
            let state = match &version {
                Some(v) => serde_json::to_value(st.state(v))
                    .ok()
                    .and_then(|s| s.as_str().map(String::from))
                    .unwrap_or_default(),
                None => "pending".into(),
            };
            nodes.push(SdnNodeStatus {
                node: name,
                state,
                applied_version: st.applied_version,
                errors: st.errors,
            });
        }
        Ok(SdnStatus {
            pending: version.as_deref() != Some(cfg.version().as_str()),
            version,
            nodes,
        })
    }

    /// `node`'s bridges: those of its network.cfg and the running vnets deployed there.
    pub fn node_network(&self, node: &str) -> Result<Vec<NetworkRow>, NodeError> {
        let rt = self.require_cluster()?;
        let (text, _) = config_io::read(&rt.cfs, &node_network_path(node))?;
        let net = parse_node_network(&text).map_err(invalid)?;
        let mut out: Vec<NetworkRow> = net
            .bridges
            .iter()
            .map(|b| NetworkRow {
                iface: b.name.clone(),
                kind: "bridge".into(),
                ports: b.ports.clone(),
                zone: None,
                address: b.address.map(|a| a.to_string()),
                vlan_aware: b.vlan_aware,
            })
            .collect();
        if let Some(run) = running(&rt.cfs)? {
            let cfg = run.config()?;
            for v in &cfg.vnets {
                if cfg.zone(&v.zone).is_some_and(|z| z.on_node(node)) {
                    out.push(NetworkRow {
                        iface: v.id.clone(),
                        kind: "vnet".into(),
                        ports: Vec::new(),
                        zone: Some(v.zone.clone()),
                        address: None,
                        vlan_aware: v.vlanaware,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// `node`'s last report (empty before its first).
pub(super) fn read_status(cfs: &brigade_cfs::Cfs, node: &str) -> NodeSdnStatus {
    config_io::read(cfs, &status_path(node))
        .ok()
        .and_then(|(t, _)| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| NodeSdnStatus {
            node: node.to_string(),
            ..Default::default()
        })
}
