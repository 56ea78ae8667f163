//! The contents of the mount's read-only virtual files, as pmxcfs shows them:
//! `.members`, `.vmlist`, `.version` and `.clusterlog` (JSON, one newline at the end).

use brigade_api::cluster::ClusterStatus;
use serde_json::{json, Map, Value};

fn pretty(v: &Value) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(v).unwrap_or_default();
    text.push('\n');
    text.into_bytes()
}

/// `.members`: this node's name, the cluster, quorum and every member's liveness.
pub(super) fn members(nodename: &str, status: &ClusterStatus) -> Vec<u8> {
    pretty(&json!({
        "nodename": nodename,
        "cluster": status.cluster,
        "quorate": status.quorate,
        "nodelist": status.members.iter().map(|m| json!({
            "name": m.name, "online": m.alive, "local": m.local,
            "ip": m.links.first().map(|l| l.address.clone()),
        })).collect::<Vec<_>>(),
    }))
}

/// `.vmlist`: every guest of the tree (from its config's path) with its node and type.
pub(super) fn vmlist<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut ids = Map::new();
    for path in paths {
        if let Some(g) = brigade_core::layout::parse_guest_config_path(path) {
            ids.insert(
                g.vmid.to_string(),
                json!({ "node": g.node, "type": g.kind }),
            );
        }
    }
    pretty(&json!({ "ids": ids }))
}

/// `.version`: the cluster version this replica has applied, and brigade's.
pub(super) fn version(cluster_version: u64) -> Vec<u8> {
    pretty(&json!({
        "version": cluster_version,
        "brigade": env!("CARGO_PKG_VERSION"),
    }))
}

/// `.clusterlog`: the cluster log's JSON lines as one array (lines that are not JSON skipped).
pub(super) fn clusterlog(raw: &str) -> Vec<u8> {
    let lines: Vec<Value> = raw
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    pretty(&json!({ "data": lines }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Value {
        assert_eq!(bytes.last(), Some(&b'\n'), "ends with a newline");
        serde_json::from_slice(bytes).expect("JSON")
    }

    #[test]
    fn vmlist_names_each_guest_with_its_node_and_type_and_nothing_else() {
        let v = parse(&vmlist([
            "nodes/n1/qemu-server/100.conf",
            "nodes/n2/lxc/101.conf",
            "nodes/n1/qemu-server/notes.txt",
            "datacenter.cfg",
        ]));
        let ids = v["ids"].as_object().expect("ids");
        assert_eq!(ids.len(), 2, "{v}");
        assert_eq!(ids["100"]["node"], "n1");
        assert_eq!(ids["101"]["node"], "n2");
        assert_ne!(ids["100"]["type"], ids["101"]["type"]);
    }

    #[test]
    fn clusterlog_keeps_the_json_lines_in_order() {
        let v = parse(&clusterlog("{\"msg\":\"a\"}\nnot json\n{\"msg\":\"b\"}\n"));
        assert_eq!(v["data"], json!([{ "msg": "a" }, { "msg": "b" }]));
        assert_eq!(parse(&clusterlog(""))["data"], json!([]));
    }

    #[test]
    fn version_says_the_cluster_version() {
        assert_eq!(parse(&version(42))["version"], 42);
    }
}
