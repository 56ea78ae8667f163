//! The decision of a join, without I/O: is the application's token good, and where does
//! the new member go in cluster.conf (its name, addresses and node id unique)?

use std::net::IpAddr;

use brigade_api::cluster::JoinApplication;
use brigade_core::cluster_conf::{ClusterConf, NodeEntry, QdeviceEntry};
use brigade_core::NodeName;

use crate::error::NodeError;
use crate::join_token::StoredJoinToken;
use crate::token;

/// Who is admitted: the new member's name, addresses and node id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Admitted {
    pub name: NodeName,
    pub address: IpAddr,
    pub link1: Option<IpAddr>,
    /// Where its API listens, when not on `address`.
    pub api_address: Option<IpAddr>,
    pub nodeid: u64,
}

/// Whether `secret` opens `stored` at `now` (unix seconds): the hash matches, not expired.
pub(super) fn token_opens(stored: &StoredJoinToken, secret: &str, now: u64) -> bool {
    token::constant_time_eq(&stored.hash, &token::hash_secret(secret)) && stored.expires >= now
}

/// Adds the applicant to `conf` (a node or the qdevice) with the next node id and a new
/// config version; refuses a name, an address or a second qdevice already there, and
/// leaves `conf` unchanged when it refuses.
pub(super) fn admit(conf: &mut ClusterConf, app: &JoinApplication) -> Result<Admitted, NodeError> {
    let name: NodeName = app.name.parse().map_err(NodeError::Format)?;
    let address: IpAddr = app
        .address
        .parse()
        .map_err(|_| NodeError::Invalid(format!("invalid address {:?}", app.address)))?;
    let link1: Option<IpAddr> = match &app.link1 {
        Some(s) => Some(
            s.parse()
                .map_err(|_| NodeError::Invalid(format!("invalid link1 address {s:?}")))?,
        ),
        None => None,
    };
    let api_address: Option<IpAddr> = match &app.api_address {
        Some(s) => Some(
            s.parse()
                .map_err(|_| NodeError::Invalid(format!("invalid API address {s:?}")))?,
        ),
        None => None,
    };
    if conf.node(&name).is_some() || conf.qdevice.as_ref().is_some_and(|q| q.name == name) {
        return Err(NodeError::Conflict(format!(
            "a node named {name} is already in the cluster; remove it with 'brigade cluster delnode {name}' first"
        )));
    }
    if app.qdevice {
        if let Some(q) = &conf.qdevice {
            return Err(NodeError::Conflict(format!(
                "cluster {} already has a qdevice ({} at {}); remove it first with 'brigade cluster qdevice remove'",
                conf.name, q.name, q.address
            )));
        }
    }
    if let Some(other) = conf.nodes.iter().find(|n| n.link0 == address) {
        return Err(NodeError::Conflict(format!(
            "address {address} is already used by node {}",
            other.name
        )));
    }
    let nodeid = conf.next_nodeid();
    if app.qdevice {
        conf.qdevice = Some(QdeviceEntry {
            name: name.clone(),
            nodeid,
            address,
        });
    } else {
        conf.nodes.push(NodeEntry {
            name: name.clone(),
            nodeid,
            votes: 1,
            link0: address,
            link1,
        });
    }
    conf.config_version += 1;
    Ok(Admitted {
        name,
        address,
        link1,
        api_address,
        nodeid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> ClusterConf {
        let first = NodeEntry {
            name: "n1".parse().expect("name"),
            nodeid: 1,
            votes: 1,
            link0: "127.0.0.1".parse().expect("ip"),
            link1: None,
        };
        ClusterConf::new("lab", first)
    }

    fn app(name: &str, address: &str, qdevice: bool) -> JoinApplication {
        JoinApplication {
            token_id: "ab".into(),
            secret: "s".into(),
            name: name.into(),
            address: address.into(),
            api_port: 8006,
            rpc_port: 8007,
            link1: None,
            api_address: None,
            qdevice,
        }
    }

    #[test]
    fn a_new_node_gets_the_next_id_and_a_new_config_version() {
        let mut c = conf();
        let before = c.config_version;
        let a = admit(&mut c, &app("n2", "127.0.0.2", false)).expect("admitted");
        assert_eq!(a.nodeid, 2);
        assert_eq!(c.nodes.len(), 2);
        assert_eq!(c.config_version, before + 1);
        let q = admit(&mut c, &app("qd", "127.0.0.9", true)).expect("qdevice admitted");
        assert_eq!(q.nodeid, 3);
        assert_eq!(c.qdevice.as_ref().map(|q| q.nodeid), Some(3));
        assert_eq!(c.nodes.len(), 2, "a qdevice is no node");
    }

    #[test]
    fn taken_names_addresses_and_a_second_qdevice_are_refused_and_change_nothing() {
        let mut c = conf();
        admit(&mut c, &app("qd", "127.0.0.9", true)).expect("qdevice");
        let before = c.clone();
        for (a, needle) in [
            (app("n1", "127.0.0.5", false), "already in the cluster"),
            (app("qd", "127.0.0.5", false), "already in the cluster"),
            (app("n5", "127.0.0.1", false), "already used by node n1"),
            (app("q2", "127.0.0.8", true), "already has a qdevice"),
            (app("n5", "not-an-ip", false), "invalid address"),
            (app("bad name", "127.0.0.5", false), ""),
            (
                JoinApplication {
                    api_address: Some("mgmt".into()),
                    ..app("n5", "127.0.0.5", false)
                },
                "invalid API address",
            ),
        ] {
            let e = admit(&mut c, &a).expect_err(needle);
            assert!(e.to_string().contains(needle), "{e}");
            assert!(matches!(e.status(), 400 | 409), "{e}");
            assert_eq!(c, before, "{needle}");
        }
    }

    #[test]
    fn an_api_address_apart_from_link0_is_kept() {
        let mut c = conf();
        let a = admit(
            &mut c,
            &JoinApplication {
                api_address: Some("192.0.2.7".into()),
                ..app("n2", "127.0.0.2", false)
            },
        )
        .expect("admitted");
        assert_eq!(a.api_address, "192.0.2.7".parse().ok());
        assert_eq!(a.address, "127.0.0.2".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn a_token_opens_with_its_secret_until_it_expires() {
        let stored = StoredJoinToken {
            hash: token::hash_secret("secret"),
            expires: 100,
        };
        assert!(token_opens(&stored, "secret", 100));
        assert!(!token_opens(&stored, "secret", 101));
        assert!(!token_opens(&stored, "other", 50));
    }
}
