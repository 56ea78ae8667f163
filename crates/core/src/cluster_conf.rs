//! cluster.conf: the cluster's name, its nodes and their links, votes and timeouts.
//!
//! ```text
//! cluster: lab1
//!     config_version 3
//!     max_voters 5
//!     node_timeout 10
//!
//! node: n1
//!     nodeid 1
//!     votes 1
//!     link0 127.0.1.1
//! ```

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::section_config::{self, Section};
use crate::{FormatError, NodeName};

/// Default number of Raft voters; further nodes are learners.
pub const DEFAULT_MAX_VOTERS: u32 = 5;
/// Default seconds without a heartbeat before a node is shown dead.
pub const DEFAULT_NODE_TIMEOUT_SECS: u32 = 10;

/// The parsed cluster.conf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterConf {
    pub name: String,
    pub config_version: u64,
    pub max_voters: u32,
    pub node_timeout_secs: u32,
    pub nodes: Vec<NodeEntry>,
    /// The quorum device, if one is set up (a voter that never leads).
    #[serde(default)]
    pub qdevice: Option<QdeviceEntry>,
}

/// The quorum device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QdeviceEntry {
    pub name: NodeName,
    pub nodeid: u64,
    pub address: IpAddr,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub name: NodeName,
    pub nodeid: u64,
    pub votes: u32,
    pub link0: IpAddr,
    pub link1: Option<IpAddr>,
}

fn field<T: std::str::FromStr>(s: &Section, key: &str) -> Result<Option<T>, FormatError> {
    match s.get(key) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            FormatError::Invalid(format!(
                "{}: {}: invalid value {v:?} for {key}",
                s.kind, s.id
            ))
        }),
    }
}

/// Refuses a property the section kind does not have (a typo would be ignored silently).
fn known_props(s: &Section, allowed: &[&str]) -> Result<(), FormatError> {
    match s.props.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        Some((k, _)) => Err(FormatError::Invalid(format!(
            "{}: {}: unknown property {k:?} (known: {})",
            s.kind,
            s.id,
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

fn required<T: std::str::FromStr>(s: &Section, key: &str) -> Result<T, FormatError> {
    field(s, key)?
        .ok_or_else(|| FormatError::Invalid(format!("{}: {}: missing {key}", s.kind, s.id)))
}

impl ClusterConf {
    /// A new one-node cluster configuration.
    pub fn new(name: &str, first: NodeEntry) -> Self {
        ClusterConf {
            name: name.to_string(),
            config_version: 1,
            max_voters: DEFAULT_MAX_VOTERS,
            node_timeout_secs: DEFAULT_NODE_TIMEOUT_SECS,
            nodes: vec![first],
            qdevice: None,
        }
    }

    /// Parses and validates cluster.conf.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let sections = section_config::parse(text)?;
        let mut header = None;
        let mut nodes: Vec<NodeEntry> = Vec::new();
        let mut qdevice: Option<QdeviceEntry> = None;
        for s in &sections {
            match s.kind.as_str() {
                "qdevice" => {
                    known_props(s, &["nodeid", "address"])?;
                    if qdevice.is_some() {
                        return Err(FormatError::Invalid("more than one qdevice section".into()));
                    }
                    qdevice = Some(QdeviceEntry {
                        name: s.id.parse()?,
                        nodeid: required(s, "nodeid")?,
                        address: required(s, "address")?,
                    });
                }
                "cluster" => {
                    known_props(s, &["config_version", "max_voters", "node_timeout"])?;
                    if header.is_some() {
                        return Err(FormatError::Invalid("more than one cluster section".into()));
                    }
                    header = Some(s);
                }
                "node" => {
                    known_props(s, &["nodeid", "votes", "link0", "link1"])?;
                    let name: NodeName = s.id.parse()?;
                    let entry = NodeEntry {
                        name,
                        nodeid: required(s, "nodeid")?,
                        votes: field(s, "votes")?.unwrap_or(1),
                        link0: required(s, "link0")?,
                        link1: field(s, "link1")?,
                    };
                    if nodes.iter().any(|n| n.nodeid == entry.nodeid) {
                        return Err(FormatError::Invalid(format!(
                            "nodeid {} used twice",
                            entry.nodeid
                        )));
                    }
                    nodes.push(entry);
                }
                other => {
                    return Err(FormatError::Invalid(format!(
                        "unknown section type {other:?}"
                    )))
                }
            }
        }
        let header =
            header.ok_or_else(|| FormatError::Invalid("missing 'cluster: NAME' section".into()))?;
        let max_voters = field(header, "max_voters")?.unwrap_or(DEFAULT_MAX_VOTERS);
        if max_voters == 0 {
            return Err(FormatError::Invalid("max_voters must be at least 1".into()));
        }
        let node_timeout_secs = field(header, "node_timeout")?.unwrap_or(DEFAULT_NODE_TIMEOUT_SECS);
        if node_timeout_secs == 0 {
            return Err(FormatError::Invalid(
                "node_timeout must be at least 1 second".into(),
            ));
        }
        Ok(ClusterConf {
            name: header.id.clone(),
            config_version: field(header, "config_version")?.unwrap_or(1),
            max_voters,
            node_timeout_secs,
            nodes,
            qdevice,
        })
        .and_then(|c: ClusterConf| {
            let qid = c.qdevice.as_ref().map(|q| q.nodeid);
            if qid.is_some_and(|q| c.nodes.iter().any(|n| n.nodeid == q)) {
                return Err(FormatError::Invalid(
                    "the qdevice's nodeid is also a node's".into(),
                ));
            }
            Ok(c)
        })
    }

    /// Writes cluster.conf in canonical form.
    pub fn to_text(&self) -> String {
        let mut sections = vec![Section::new("cluster", &self.name)
            .with("config_version", self.config_version)
            .with("max_voters", self.max_voters)
            .with("node_timeout", self.node_timeout_secs)];
        for n in &self.nodes {
            let mut s = Section::new("node", n.name.as_str())
                .with("nodeid", n.nodeid)
                .with("votes", n.votes)
                .with("link0", n.link0);
            if let Some(l1) = n.link1 {
                s = s.with("link1", l1);
            }
            sections.push(s);
        }
        if let Some(q) = &self.qdevice {
            sections.push(
                Section::new("qdevice", q.name.as_str())
                    .with("nodeid", q.nodeid)
                    .with("address", q.address),
            );
        }
        section_config::write(&sections)
    }

    pub fn node(&self, name: &NodeName) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| &n.name == name)
    }

    pub fn node_by_id(&self, id: u64) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.nodeid == id)
    }

    /// The next free node id (the qdevice's included).
    pub fn next_nodeid(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.nodeid)
            .chain(self.qdevice.as_ref().map(|q| q.nodeid))
            .max()
            .unwrap_or(0)
            + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(name: &str, id: u64) -> NodeEntry {
        NodeEntry {
            name: name.parse().expect("valid"),
            nodeid: id,
            votes: 1,
            link0: format!("127.0.1.{id}").parse().expect("ip"),
            link1: None,
        }
    }

    #[test]
    fn round_trip_and_defaults() {
        let mut c = ClusterConf::new("lab1", entry("n1", 1));
        c.nodes.push(entry("n2", 2));
        assert_eq!(ClusterConf::parse(&c.to_text()).expect("parses"), c);
        assert_eq!(c.next_nodeid(), 3);
        let minimal = ClusterConf::parse("cluster: x\n").expect("parses");
        assert_eq!(minimal.max_voters, DEFAULT_MAX_VOTERS);
        assert_eq!(minimal.node_timeout_secs, DEFAULT_NODE_TIMEOUT_SECS);
    }

    #[test]
    fn rejects_bad_documents() {
        for bad in [
            "",
            "node: n1\n\tnodeid 1\n\tlink0 127.0.0.1\n",
            "cluster: x\nnode: n1\n\tlink0 127.0.0.1\n",
            "cluster: x\nnode: n1\n\tnodeid 1\n\tlink0 nope\n",
            "cluster: x\n\tmax_voters 0\n",
            "cluster: x\nnode: N1\n\tnodeid 1\n\tlink0 127.0.0.1\n",
            "cluster: x\nnode: a\n\tnodeid 1\n\tlink0 1.1.1.1\nnode: b\n\tnodeid 1\n\tlink0 1.1.1.2\n",
            "cluster: x\nbogus: y\n",
            "cluster: x\n\tnode_timout 5\n",
            "cluster: x\nnode: n1\n\tnodeid 1\n\tlink0 127.0.0.1\n\tlnk1 127.0.0.2\n",
        ] {
            assert!(ClusterConf::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn write_then_parse_is_identity(
            name in "[a-z][a-z0-9-]{0,10}[a-z0-9]",
            version in 1u64..1000,
            max_voters in 1u32..9,
            timeout in 1u32..60,
            ids in proptest::collection::btree_set(1u64..200, 0..10),
            with_link1 in any::<bool>(),
        ) {
            let nodes = ids.into_iter().map(|id| NodeEntry {
                link1: with_link1.then(|| format!("10.0.0.{}", id % 250).parse().expect("ip")),
                ..entry(&format!("n{id}"), id)
            }).collect();
            let qdevice = with_link1.then(|| QdeviceEntry { name: "qd".parse().expect("name"), nodeid: 500, address: "127.0.0.9".parse().expect("ip") });
            let c = ClusterConf { name, config_version: version, max_voters, node_timeout_secs: timeout, nodes, qdevice };
            prop_assert_eq!(ClusterConf::parse(&c.to_text()).expect("parses"), c);
        }
    }
}
