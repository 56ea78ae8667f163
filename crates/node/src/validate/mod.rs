//! The one validation of the files whose format brigade owns, for every write that
//! comes from outside the daemon: the API (`fs write`, `fs mv`, guest create and set)
//! and the FUSE mount. Pure: the caller passes what it knows (storages, appliance).

mod datacenter;
mod host_paths;
mod sdn;

pub use datacenter::{DatacenterConfig, MigrationType};
pub use host_paths::{HostPathError, HostPathPolicy, HostPaths, HOST_PATH_KEYS};

use brigade_access::domains_cfg::DomainsCfg;
use brigade_access::shadow::ShadowCfg;
use brigade_access::tfa::TfaCfg;
use brigade_access::ticket_keys::TicketKeys;
use brigade_access::{files, parse_user_cfg};
use brigade_core::cluster_conf::ClusterConf;
use brigade_core::key_value::KeyValueConfig;
use brigade_core::layout::{self, GuestKind};
use brigade_core::NodeName;
use brigade_guest::{CtConfig, StorageConfig, VmConfig};
use brigade_ha::{GroupsConfig, LrmStatus, ManagerStatus, ResourcesConfig, ServiceId};

use crate::error::NodeError;

/// Shortest cluster key accepted in `priv/authkey`, bytes.
pub const AUTHKEY_MIN_BYTES: usize = 32;

/// A file brigade parses, recognized by its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// `nodes/<node>/qemu-server/<vmid>.conf` or `nodes/<node>/lxc/<vmid>.conf`.
    Guest {
        kind: GuestKind,
        node: String,
    },
    ClusterConf,
    DatacenterCfg,
    StorageCfg,
    HaResources,
    HaGroups,
    /// `ha/rules.cfg`.
    HaRules,
    /// `jobs.cfg`: backup jobs.
    JobsCfg,
    HaManagerStatus,
    /// `ha/maintenance`: `NODE` or `NODE shutdown` per line.
    HaMaintenance,
    /// `ha/crm_commands`: `migrate SID NODE` per line.
    HaCrmCommands,
    /// `nodes/<node>/lrm_status`.
    LrmStatus,
    /// `nodes/<node>/usage`: what the CRS reads.
    NodeUsage,
    TokensCfg,
    /// `priv/join-tokens/<id>`.
    JoinToken,
    ClusterLog,
    CaCert,
    CaKey,
    Authkey,
    /// `user.cfg`: users, tokens, groups, pools, roles, ACLs.
    UserCfg,
    /// `domains.cfg`: realms.
    DomainsCfg,
    /// `priv/shadow.cfg`: the `pve` realm's password hashes.
    ShadowCfg,
    /// `priv/tfa.cfg`: second factors.
    TfaCfg,
    /// `priv/ticket-keys`: the ticket signing keys.
    TicketKeys,
    /// `sdn/zones.cfg`, `sdn/vnets.cfg`, `sdn/subnets.cfg`: the pending SDN configuration.
    SdnZones,
    SdnVnets,
    SdnSubnets,
    /// `sdn/.running-config`: what `sdn apply` recorded for every node to run.
    SdnRunning,
    /// `nodes/<node>/network.cfg`: the node's own bridges.
    NodeNetwork,
    /// `nodes/<node>/sdn-status.json`: what the node applied.
    SdnStatus,
}

/// The kind of the file at `path`, if brigade parses it.
pub fn file_kind(path: &str) -> Option<FileKind> {
    if let Some(g) = layout::parse_guest_config_path(path) {
        return Some(FileKind::Guest {
            kind: g.kind,
            node: g.node,
        });
    }
    let kind = match path {
        layout::CLUSTER_CONF => FileKind::ClusterConf,
        layout::DATACENTER_CFG => FileKind::DatacenterCfg,
        layout::STORAGE_CFG => FileKind::StorageCfg,
        layout::HA_RESOURCES_CFG => FileKind::HaResources,
        layout::HA_GROUPS_CFG => FileKind::HaGroups,
        crate::ha::rules_io::HA_RULES_CFG => FileKind::HaRules,
        crate::backup::jobs::JOBS_CFG => FileKind::JobsCfg,
        layout::HA_MANAGER_STATUS => FileKind::HaManagerStatus,
        crate::ha::config_io::HA_MAINTENANCE => FileKind::HaMaintenance,
        crate::ha::config_io::HA_CRM_COMMANDS => FileKind::HaCrmCommands,
        layout::TOKENS_CFG => FileKind::TokensCfg,
        layout::CLUSTER_LOG => FileKind::ClusterLog,
        layout::CA_CERT => FileKind::CaCert,
        layout::CA_KEY => FileKind::CaKey,
        layout::AUTHKEY => FileKind::Authkey,
        files::USER_CFG => FileKind::UserCfg,
        files::DOMAINS_CFG => FileKind::DomainsCfg,
        files::SHADOW_CFG => FileKind::ShadowCfg,
        files::TFA_CFG => FileKind::TfaCfg,
        files::TICKET_KEYS => FileKind::TicketKeys,
        brigade_sdn::zones_cfg::ZONES_CFG => FileKind::SdnZones,
        brigade_sdn::vnets_cfg::VNETS_CFG => FileKind::SdnVnets,
        brigade_sdn::subnets_cfg::SUBNETS_CFG => FileKind::SdnSubnets,
        crate::sdn::RUNNING_CONFIG => FileKind::SdnRunning,
        _ => {
            let parts: Vec<&str> = path.split('/').collect();
            return match parts.as_slice() {
                [layout::NODES_DIR, _, "lrm_status"] => Some(FileKind::LrmStatus),
                [layout::NODES_DIR, _, crate::ha::usage_report::USAGE_FILE] => {
                    Some(FileKind::NodeUsage)
                }
                ["priv", "join-tokens", _] => Some(FileKind::JoinToken),
                [layout::NODES_DIR, _, "network.cfg"] => Some(FileKind::NodeNetwork),
                [layout::NODES_DIR, _, "sdn-status.json"] => Some(FileKind::SdnStatus),
                _ => None,
            };
        }
    };
    Some(kind)
}

fn invalid(m: impl std::fmt::Display) -> NodeError {
    NodeError::Invalid(m.to_string())
}

fn text(path: &str, data: &[u8]) -> Result<String, NodeError> {
    String::from_utf8(data.to_vec()).map_err(|_| invalid(format!("{path}: not UTF-8 text")))
}

/// Validates a guest config (already split into keys) for a guest on `node`: the
/// format, and that every host path lies where `policy` allows.
pub fn guest_config(
    kind: GuestKind,
    node: &str,
    kv: &KeyValueConfig,
    policy: &HostPathPolicy,
) -> Result<(), NodeError> {
    match kind {
        GuestKind::Qemu => {
            VmConfig::from_kv(kv)?;
            let allowed = policy.for_node(node);
            for key in HOST_PATH_KEYS {
                if let Some(v) = kv.get(key) {
                    allowed.check(key, v)?;
                }
            }
        }
        GuestKind::Lxc => {
            CtConfig::from_kv(kv)?;
        }
    }
    Ok(())
}

fn json<T: serde::de::DeserializeOwned>(path: &str, data: &[u8]) -> Result<T, NodeError> {
    serde_json::from_slice(data)
        .map_err(|e| invalid(format!("{path}: not what brigade writes there: {e}")))
}

fn node_name(path: &str, line: usize, s: &str) -> Result<NodeName, NodeError> {
    s.parse()
        .map_err(|e| invalid(format!("{path}: line {line}: {e}")))
}

/// Refuses `data` as the new content of `path` if brigade parses that file and it is
/// not valid; other files are free-form. The messages are those of the API.
pub fn validate_file(path: &str, data: &[u8], policy: &HostPathPolicy) -> Result<(), NodeError> {
    if path == crate::format_version::ACTIVE_FORMAT_TREE_PATH {
        // A format some member does not speak would stop that member: only the command
        // that asks every member first writes it.
        return Err(invalid(format!(
            "{path} is written only by 'brigade cluster format upgrade', which first checks that every member speaks the new format"
        )));
    }
    let Some(kind) = file_kind(path) else {
        return Ok(());
    };
    match kind {
        FileKind::Guest { kind, node } => {
            let kv = KeyValueConfig::parse(&text(path, data)?).map_err(invalid)?;
            guest_config(kind, &node, &kv, policy)
        }
        FileKind::ClusterConf => ClusterConf::parse(&text(path, data)?)
            .map(|_| ())
            .map_err(|e| invalid(format!("cluster.conf: {e}"))),
        FileKind::DatacenterCfg => DatacenterConfig::parse(&text(path, data)?).map(|_| ()),
        FileKind::StorageCfg => StorageConfig::parse(&text(path, data)?)
            .map(|_| ())
            .map_err(NodeError::from),
        FileKind::HaResources => ResourcesConfig::parse(&text(path, data)?)
            .map(|_| ())
            .map_err(invalid),
        FileKind::HaGroups => GroupsConfig::parse(&text(path, data)?)
            .map(|_| ())
            .map_err(invalid),
        FileKind::HaRules => brigade_ha::rules::RulesConfig::parse(&text(path, data)?)
            .map(|_| ())
            .map_err(invalid),
        FileKind::JobsCfg => brigade_backup::jobs_cfg::parse(&text(path, data)?)
            .map(|_| ())
            .map_err(invalid),
        FileKind::HaManagerStatus => json::<ManagerStatus>(path, data).map(|_| ()),
        FileKind::NodeUsage => json::<crate::ha::usage_report::UsageReport>(path, data).map(|_| ()),
        FileKind::LrmStatus => json::<LrmStatus>(path, data).map(|_| ()),
        FileKind::JoinToken => json::<crate::join_token::StoredJoinToken>(path, data).map(|_| ()),
        FileKind::ClusterLog => {
            for (i, line) in text(path, data)?.lines().enumerate() {
                serde_json::from_str::<crate::cluster_log::LogEvent>(line).map_err(|e| {
                    invalid(format!("{path}: line {}: not a log event: {e}", i + 1))
                })?;
            }
            Ok(())
        }
        FileKind::HaMaintenance => {
            for (i, line) in text(path, data)?.lines().enumerate() {
                match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                    [] => {}
                    [node] | [node, "shutdown"] => {
                        node_name(path, i + 1, node)?;
                    }
                    _ => {
                        return Err(invalid(format!(
                            "{path}: line {}: expected 'NODE' or 'NODE shutdown', found {line:?}",
                            i + 1
                        )))
                    }
                }
            }
            Ok(())
        }
        FileKind::HaCrmCommands => {
            for (i, line) in text(path, data)?.lines().enumerate() {
                match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                    [] => {}
                    ["migrate", sid, node] => {
                        sid.parse::<ServiceId>()
                            .map_err(|e| invalid(format!("{path}: line {}: {e}", i + 1)))?;
                        node_name(path, i + 1, node)?;
                    }
                    _ => {
                        return Err(invalid(format!(
                            "{path}: line {}: expected 'migrate SID NODE', found {line:?}",
                            i + 1
                        )))
                    }
                }
            }
            Ok(())
        }
        FileKind::TokensCfg => {
            let sections = brigade_core::section_config::parse(&text(path, data)?)
                .map_err(|e| invalid(format!("{path}: {e}")))?;
            for s in sections {
                if s.kind != "token" || s.get("hash").is_none() {
                    return Err(invalid(format!(
                        "{path}: section {} {} must be 'token: ID' with a hash",
                        s.kind, s.id
                    )));
                }
            }
            Ok(())
        }
        FileKind::CaCert => {
            let certs = brigade_net::tls::certs_from_pem(&text(path, data)?)
                .map_err(|e| invalid(format!("{path}: {e}")))?;
            if certs.is_empty() {
                return Err(invalid(format!("{path}: no PEM certificate in it")));
            }
            Ok(())
        }
        FileKind::CaKey => brigade_net::tls::key_from_pem(&text(path, data)?)
            .map(|_| ())
            .map_err(|e| invalid(format!("{path}: {e}"))),
        FileKind::Authkey => {
            if data.len() < AUTHKEY_MIN_BYTES {
                return Err(invalid(format!(
                    "{path}: the cluster key must be at least {AUTHKEY_MIN_BYTES} bytes"
                )));
            }
            Ok(())
        }
        // Each parser names its file and line; a broken access file would lock users out.
        FileKind::UserCfg => parse_user_cfg(&text(path, data)?)
            .map(|_| ())
            .map_err(invalid),
        FileKind::DomainsCfg => DomainsCfg::parse(&text(path, data)?)
            .map(|_| ())
            .map_err(invalid),
        FileKind::ShadowCfg => ShadowCfg::parse(&text(path, data)?)
            .map(|_| ())
            .map_err(invalid),
        FileKind::TfaCfg => TfaCfg::parse(&text(path, data)?)
            .map(|_| ())
            .map_err(|e| invalid(format!("{path}: {e}"))),
        FileKind::TicketKeys => TicketKeys::parse(&text(path, data)?)
            .map(|_| ())
            .map_err(|e| invalid(format!("{path}: {e}"))),
        FileKind::SdnZones | FileKind::SdnVnets | FileKind::SdnSubnets => {
            sdn::sdn_file(&kind, &text(path, data)?)
        }
        FileKind::SdnRunning => sdn::running(&text(path, data)?),
        FileKind::NodeNetwork => sdn::node_network(&text(path, data)?),
        FileKind::SdnStatus => json::<brigade_sdn::status::NodeSdnStatus>(path, data).map(|_| ()),
    }
}

#[cfg(test)]
mod tests;
