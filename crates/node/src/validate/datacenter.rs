//! `datacenter.cfg`: cluster-wide options in Proxmox's `key: value` format, parsed and
//! validated (`migration: type=secure|insecure[,network=CIDR]`,
//! `ha: fence_timeout=S[,shutdown_policy=P]`, `crs: ha=basic|static|dynamic[,...]`, and
//! Proxmox's keys brigade keeps as they are).

use brigade_core::key_value::KeyValueConfig;
use brigade_ha::config::ShutdownPolicy;
use brigade_ha::crs::CrsSettings;

use crate::error::NodeError;

/// Proxmox datacenter.cfg keys brigade keeps but does not act on.
const PASSIVE_KEYS: &[&str] = &[
    "keyboard",
    "language",
    "http_proxy",
    "console",
    "email_from",
    "mac_prefix",
    "max_workers",
    "bwlimit",
    "description",
    "fencing",
    "next-id",
    "notify",
    "registered-tags",
    "tag-style",
    "user-tag-access",
    "u2f",
    "webauthn",
];
/// Shortest and longest `ha: fence_timeout=` accepted, seconds.
const FENCE_TIMEOUT_RANGE_SECS: (f64, f64) = (1.0, 3600.0);

/// How live migrations stream memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationType {
    /// Through the nodes' mutual-TLS tunnel.
    #[default]
    Secure,
    /// Plain TCP on a dedicated network.
    Insecure,
}

/// The validated datacenter.cfg.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DatacenterConfig {
    pub migration: MigrationType,
    /// `migration: network=CIDR`.
    pub migration_network: Option<String>,
    /// `ha: fence_timeout=S`, in milliseconds.
    pub fence_timeout_ms: Option<u64>,
    pub shutdown_policy: Option<ShutdownPolicy>,
    /// `crs:`: how HA places guests (the cluster resource scheduler).
    pub crs: Option<CrsSettings>,
}

fn invalid(m: String) -> NodeError {
    NodeError::Invalid(m)
}

/// Splits `a,b=c` into (key, value) items; a bare first item is `default_key=item`.
fn items<'a>(
    key: &str,
    v: &'a str,
    default_key: &'a str,
) -> Result<Vec<(&'a str, &'a str)>, NodeError> {
    v.split(',')
        .enumerate()
        .map(|(i, item)| match item.split_once('=') {
            Some((k, val)) if !k.is_empty() && !val.is_empty() => Ok((k, val)),
            None if i == 0 && !item.is_empty() => Ok((default_key, item)),
            _ => Err(invalid(format!("{key}: {item:?} is not key=value"))),
        })
        .collect()
}

/// Whether `s` is an IPv4 or IPv6 network `ADDR/PREFIX`.
fn is_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return false;
    };
    match (addr.parse::<std::net::IpAddr>(), prefix.parse::<u8>()) {
        (Ok(std::net::IpAddr::V4(_)), Ok(p)) => p <= 32,
        (Ok(std::net::IpAddr::V6(_)), Ok(p)) => p <= 128,
        _ => false,
    }
}

impl DatacenterConfig {
    /// Parses and validates datacenter.cfg; every error names the key.
    pub fn parse(text: &str) -> Result<Self, NodeError> {
        let kv = KeyValueConfig::parse(text)?;
        let mut c = DatacenterConfig::default();
        for (key, value) in &kv.entries {
            match key.as_str() {
                "migration" => {
                    for (k, v) in items(key, value, "type")? {
                        match k {
                            "type" => {
                                c.migration = match v {
                                    "secure" => MigrationType::Secure,
                                    "insecure" => MigrationType::Insecure,
                                    _ => {
                                        return Err(invalid(format!(
                                            "migration: unknown type {v:?} (secure or insecure)"
                                        )))
                                    }
                                }
                            }
                            "network" if is_cidr(v) => c.migration_network = Some(v.to_string()),
                            "network" => {
                                return Err(invalid(format!(
                                    "migration: network {v:?} is not a CIDR (e.g. 10.0.0.0/24)"
                                )))
                            }
                            _ => {
                                return Err(invalid(format!(
                                    "migration: unknown option {k:?} (known: type, network)"
                                )))
                            }
                        }
                    }
                }
                "ha" => {
                    for (k, v) in items(key, value, "shutdown_policy")? {
                        match k {
                            "fence_timeout" => {
                                let (min, max) = FENCE_TIMEOUT_RANGE_SECS;
                                let secs: f64 =
                                    v.parse().ok().filter(|s: &f64| s.is_finite()).ok_or_else(
                                        || {
                                            invalid(format!(
                                            "ha: fence_timeout {v:?} is not a number of seconds"
                                        ))
                                        },
                                    )?;
                                if !(min..=max).contains(&secs) {
                                    return Err(invalid(format!(
                                        "ha: fence_timeout {secs} is out of range {min}..{max} seconds"
                                    )));
                                }
                                c.fence_timeout_ms = Some((secs * 1000.0) as u64);
                            }
                            "shutdown_policy" => {
                                c.shutdown_policy = Some(
                                    ShutdownPolicy::parse(v)
                                        .map_err(|e| invalid(format!("ha: {e}")))?,
                                );
                            }
                            _ => {
                                return Err(invalid(format!(
                                "ha: unknown option {k:?} (known: fence_timeout, shutdown_policy)"
                            )))
                            }
                        }
                    }
                }
                "crs" => {
                    c.crs = Some(CrsSettings::parse(value).map_err(|e| invalid(e.to_string()))?);
                }
                k if PASSIVE_KEYS.contains(&k) => {}
                k => return Err(invalid(format!("datacenter.cfg: unknown key {k:?}"))),
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_datacenter_configs() {
        let c = DatacenterConfig::parse(
            "keyboard: en-us\nmigration: type=insecure,network=10.1.0.0/16\nha: fence_timeout=6,shutdown_policy=migrate\n",
        )
        .expect("parses");
        assert_eq!(c.migration, MigrationType::Insecure);
        assert_eq!(c.migration_network.as_deref(), Some("10.1.0.0/16"));
        assert_eq!(c.fence_timeout_ms, Some(6000));
        assert_eq!(c.shutdown_policy, Some(ShutdownPolicy::Migrate));
        assert_eq!(
            DatacenterConfig::parse("migration: secure\n")
                .expect("parses")
                .migration,
            MigrationType::Secure
        );
        assert_eq!(
            DatacenterConfig::parse("").expect("empty"),
            DatacenterConfig::default()
        );
        let crs = DatacenterConfig::parse("crs: ha=static,ha-rebalance-on-start=1\n")
            .expect("parses")
            .crs
            .expect("crs");
        assert_eq!(crs.mode, brigade_ha::crs::CrsMode::Static);
        assert!(crs.rebalance_on_start);
        assert_eq!(
            DatacenterConfig::parse("ha: fence_timeout=2.5\n")
                .expect("parses")
                .fence_timeout_ms,
            Some(2500)
        );
    }

    #[test]
    fn bad_datacenter_configs_name_the_key() {
        for (text, needle) in [
            ("bogus: 1\n", "unknown key \"bogus\""),
            ("migration: fast\n", "migration: unknown type \"fast\""),
            (
                "migration: type=secure,network=10.0.0.0\n",
                "migration: network",
            ),
            (
                "migration: type=secure,speed=1\n",
                "migration: unknown option \"speed\"",
            ),
            ("ha: fence_timeout=soon\n", "ha: fence_timeout"),
            ("ha: fence_timeout=0\n", "out of range"),
            ("ha: fence_timeout=NaN\n", "ha: fence_timeout"),
            (
                "ha: shutdown_policy=explode\n",
                "ha: unknown shutdown policy",
            ),
            (
                "ha: fence_timeout=6,weird=1\n",
                "ha: unknown option \"weird\"",
            ),
            ("ha: fence_timeout=\n", "ha:"),
            ("migration secure\n", "line 1"),
            ("crs: ha=fancy\n", "crs: ha=\"fancy\""),
            (
                "crs: ha=basic,ha-auto-rebalance=1\n",
                "needs ha=static or ha=dynamic",
            ),
        ] {
            let e = DatacenterConfig::parse(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
