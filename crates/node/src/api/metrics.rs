//! `GET /metrics`: Prometheus text exposition (token-authenticated like every call).

use brigade_access::requirement::Requirement;
use brigade_access::Privilege as P;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::node::Node;

/// What each route of this file requires, checked before its handler runs.
pub(super) const REQUIREMENTS: &[(&str, &str, Requirement)] =
    &[("GET", "/metrics", Requirement::perm("/", &[P::SysAudit]))];

pub fn routes() -> Router<Arc<Node>> {
    Router::new().route("/metrics", get(metrics))
}

fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {v}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

/// Renders every metric of this node.
pub fn render(node: &Node) -> String {
    let mut out = String::new();
    let Some(rt) = node.cluster() else {
        gauge(
            &mut out,
            "brigade_in_cluster",
            "1 when the node belongs to a cluster",
            &[(String::new(), 0.0)],
        );
        return out;
    };
    let s = rt.cfs.status();
    let b = |v: bool| if v { 1.0 } else { 0.0 };
    gauge(
        &mut out,
        "brigade_in_cluster",
        "1 when the node belongs to a cluster",
        &[(String::new(), 1.0)],
    );
    gauge(
        &mut out,
        "brigade_quorate",
        "1 while this node holds a quorum lease",
        &[(String::new(), b(s.quorate))],
    );
    gauge(
        &mut out,
        "brigade_cfs_storage_failed",
        "1 while a failed write of this node's stores keeps Raft stopped here",
        &[(String::new(), b(s.storage_error.is_some()))],
    );
    gauge(
        &mut out,
        "brigade_is_leader",
        "1 on the Raft leader",
        &[(String::new(), b(s.role == "leader"))],
    );
    gauge(
        &mut out,
        "brigade_leader_id",
        "node id of the leader this node knows",
        &[(String::new(), s.leader.unwrap_or(0) as f64)],
    );
    gauge(
        &mut out,
        "brigade_raft_term",
        "current Raft term",
        &[(String::new(), s.term as f64)],
    );
    gauge(
        &mut out,
        "brigade_cfs_applied_index",
        "last applied Raft log index",
        &[(String::new(), s.last_applied.unwrap_or(0) as f64)],
    );
    gauge(
        &mut out,
        "brigade_cfs_version",
        "cluster version of the tree",
        &[(String::new(), s.cluster_version as f64)],
    );
    gauge(
        &mut out,
        "brigade_cfs_tree_bytes",
        "bytes in the tree",
        &[(String::new(), s.tree_bytes as f64)],
    );
    let members = rt.members.status();
    gauge(
        &mut out,
        "brigade_members",
        "configured nodes",
        &[(String::new(), members.len() as f64)],
    );
    gauge(
        &mut out,
        "brigade_members_alive",
        "nodes heard within node_timeout (this one included)",
        &[(
            String::new(),
            members.iter().filter(|m| m.alive).count() as f64,
        )],
    );
    let per = |f: &dyn Fn(&brigade_membership::PeerStatus) -> Option<f64>| -> Vec<(String, f64)> {
        members
            .iter()
            .filter(|m| !m.local)
            .filter_map(|m| f(m).map(|v| (format!("node=\"{}\"", m.name), v)))
            .collect()
    };
    gauge(
        &mut out,
        "brigade_member_alive",
        "1 when the node was heard within node_timeout",
        &per(&|m| Some(b(m.alive))),
    );
    gauge(
        &mut out,
        "brigade_clock_offset_seconds",
        "peer clock minus ours",
        &per(&|m| m.clock_offset_ms.map(|o| o / 1000.0)),
    );
    let links: Vec<(String, f64)> = members
        .iter()
        .flat_map(|m| {
            m.links
                .iter()
                .filter(|l| l.address.is_some())
                .map(move |l| (m, l))
        })
        .map(|(m, l)| (format!("node=\"{}\",link=\"{}\"", m.name, l.link), b(l.up)))
        .collect();
    gauge(
        &mut out,
        "brigade_link_up",
        "1 when heartbeats arrive on the link",
        &links,
    );
    let rtts: Vec<(String, f64)> = members
        .iter()
        .flat_map(|m| {
            m.links
                .iter()
                .filter_map(move |l| l.rtt_ms.map(|r| (m, l, r)))
        })
        .map(|(m, l, r)| {
            (
                format!("node=\"{}\",link=\"{}\"", m.name, l.link),
                r / 1000.0,
            )
        })
        .collect();
    gauge(
        &mut out,
        "brigade_link_rtt_seconds",
        "smoothed round-trip time",
        &rtts,
    );
    let h = rt.cfs.write_latency();
    let _ = writeln!(
        out,
        "# HELP brigade_cfs_write_seconds latency of configuration writes proposed through this node\n# TYPE brigade_cfs_write_seconds histogram"
    );
    for (bound, count) in &h.cumulative {
        let _ = writeln!(
            out,
            "brigade_cfs_write_seconds_bucket{{le=\"{bound}\"}} {count}"
        );
    }
    let _ = writeln!(
        out,
        "brigade_cfs_write_seconds_bucket{{le=\"+Inf\"}} {}",
        h.count
    );
    let _ = writeln!(out, "brigade_cfs_write_seconds_sum {}", h.sum_seconds);
    let _ = writeln!(out, "brigade_cfs_write_seconds_count {}", h.count);
    let c = rt.members.counters();
    let _ = writeln!(out, "# HELP brigade_heartbeats_total heartbeat packets by outcome\n# TYPE brigade_heartbeats_total counter");
    for (outcome, v) in [
        ("accepted", c.received),
        ("malformed", c.dropped_malformed),
        ("bad_auth", c.dropped_auth),
        ("replay", c.dropped_replay),
        ("unknown", c.dropped_unknown),
    ] {
        let _ = writeln!(out, "brigade_heartbeats_total{{outcome=\"{outcome}\"}} {v}");
    }
    guest_gauges(&mut out, node);
    out
}

/// Per running guest, the figures of its last graph sample (unknown ones left out).
fn guest_gauges(out: &mut String, node: &Node) {
    let latest = node.rrd.latest_guests();
    for (i, name, help) in [
        (
            0,
            "brigade_guest_cpu",
            "CPU busy share of the guest's configured CPUs, 0..1",
        ),
        (1, "brigade_guest_cpus", "CPUs configured"),
        (2, "brigade_guest_memory_bytes", "resident memory"),
        (3, "brigade_guest_memory_max_bytes", "memory configured"),
        (
            4,
            "brigade_guest_netin_bytes_per_second",
            "bytes received per second",
        ),
        (
            5,
            "brigade_guest_netout_bytes_per_second",
            "bytes sent per second",
        ),
        (
            6,
            "brigade_guest_diskread_bytes_per_second",
            "bytes read from storage per second",
        ),
        (
            7,
            "brigade_guest_diskwrite_bytes_per_second",
            "bytes written to storage per second",
        ),
    ] {
        let samples: Vec<(String, f64)> = latest
            .iter()
            .filter(|(_, v)| v[i].is_finite())
            .map(|((kind, vmid), v)| (format!("vmid=\"{vmid}\",type=\"{kind}\""), v[i]))
            .collect();
        gauge(out, name, help, &samples);
    }
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&node),
    )
}
