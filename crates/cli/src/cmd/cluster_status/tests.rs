//! The status report of a fabricated 128-node cluster: summary, default rows, filters, sorts.

use super::*;
use brigade_api::membership::{LinkStatus, PeerStatus};
use brigade_core::cluster_conf::{ClusterConf, NodeEntry};

const NODES: u64 = 128;

fn entry(id: u64) -> NodeEntry {
    NodeEntry {
        name: format!("n{id}").parse().expect("valid"),
        nodeid: id,
        votes: 1,
        link0: format!("10.0.{}.{}", id / 200, id % 200 + 1)
            .parse()
            .expect("ip"),
        link1: (id == 9).then(|| "10.9.0.9".parse().expect("ip")),
    }
}

/// n1 leads, n2..n5 vote, n7 is dead, n9's link1 is down, n11's clock is 2 s off.
fn status() -> brigade_client::ClusterStatus {
    let mut conf = ClusterConf::new("big", entry(1));
    conf.nodes.extend((2..=NODES).map(entry));
    let members = (1..=NODES)
        .map(|id| brigade_api::cfs::MemberInfo {
            id,
            name: format!("n{id}"),
            rpc_addr: String::new(),
            api_addr: String::new(),
            voter: id <= 5,
            matched: None,
        })
        .collect();
    let peers = (1..=NODES)
        .map(|id| PeerStatus {
            id,
            name: format!("n{id}"),
            alive: id != 7,
            local: id == 1,
            links: [Some(0u8), (id == 9).then_some(1)]
                .into_iter()
                .flatten()
                .map(|link| LinkStatus {
                    link,
                    address: Some("10.0.0.1".into()),
                    up: id != 7 && link == 0,
                    rtt_ms: Some(id as f64 / 100.0),
                    last_heard_ms: Some(100),
                })
                .collect(),
            clock_offset_ms: Some(if id == 11 { 2000.0 } else { 1.0 }),
            clock: if id == 11 { "warning" } else { "ok" }.into(),
        })
        .collect();
    brigade_client::ClusterStatus {
        node: "n1".into(),
        cluster: Some("big".into()),
        node_id: Some(1),
        quorate: true,
        cfs: Some(brigade_api::cfs::CfsStatus {
            node_id: 1,
            initialized: true,
            role: "Leader".into(),
            quorate: true,
            leader: Some(1),
            leader_name: Some("n1".into()),
            term: 3,
            last_log_index: None,
            last_applied: None,
            snapshot_index: None,
            purged_index: None,
            cluster_version: 1,
            tree_bytes: 0,
            tree_entries: 0,
            members,
            learner_beats_spared: 0,
            storage_error: None,
        }),
        config: Some(conf),
        members: peers,
        heartbeats: brigade_api::membership::DropCounters::default(),
        warnings: (0..25).map(|i| format!("warning {i}")).collect(),
        format: None,
    }
}

fn ids(rows: &[NodeLine]) -> Vec<u64> {
    rows.iter().map(|r| r.id).collect()
}

#[test]
fn the_summary_counts_states_roles_links_and_clocks() {
    let lines = node_lines(&status());
    assert_eq!(lines.len(), NODES as usize);
    assert_eq!(
        summary(&lines),
        "128 nodes: 127 alive, 1 dead; 1 leader, 4 voters, 123 learners; \
         1 with a link down; 1 with a clock off"
    );
}

#[test]
fn a_big_cluster_lists_only_the_nodes_worth_a_look() {
    let (rows, hidden) = select(node_lines(&status()), &StatusArgs::default());
    assert_eq!(ids(&rows), vec![1, 2, 3, 4, 5, 7, 9, 11]);
    assert_eq!(hidden, NODES as usize - 8);
    let all = StatusArgs {
        all: true,
        ..StatusArgs::default()
    };
    let (rows, hidden) = select(node_lines(&status()), &all);
    assert_eq!((rows.len(), hidden), (NODES as usize, 0));
}

#[test]
fn filters_choose_and_sorts_order() {
    let lines = node_lines(&status());
    let dead = StatusArgs {
        state: Some(StateFilter::Dead),
        ..StatusArgs::default()
    };
    assert_eq!(ids(&select(lines.clone(), &dead).0), vec![7]);
    let voters = StatusArgs {
        role: Some(RoleFilter::Voter),
        sort: SortKey::Name,
        ..StatusArgs::default()
    };
    assert_eq!(ids(&select(lines.clone(), &voters).0), vec![1, 2, 3, 4, 5]);
    let named = StatusArgs {
        filter: Some("n12".into()),
        ..StatusArgs::default()
    };
    let (rows, hidden) = select(lines.clone(), &named);
    assert_eq!(
        ids(&rows),
        vec![12, 120, 121, 122, 123, 124, 125, 126, 127, 128]
    );
    assert_eq!(hidden, 0, "a chosen set is listed whole");
    let learners = StatusArgs {
        role: Some(RoleFilter::Learner),
        state: Some(StateFilter::Alive),
        sort: SortKey::Rtt,
        ..StatusArgs::default()
    };
    let rows = select(lines.clone(), &learners).0;
    assert_eq!(rows.len(), 122);
    assert_eq!(rows[0].id, 128, "slowest first");
    let clock = StatusArgs {
        all: true,
        sort: SortKey::Clock,
        ..StatusArgs::default()
    };
    assert_eq!(select(lines.clone(), &clock).0[0].id, 11);
    let state = StatusArgs {
        all: true,
        sort: SortKey::State,
        ..StatusArgs::default()
    };
    assert_eq!(select(lines, &state).0[0].id, 7, "dead first");
}

#[test]
fn a_small_cluster_lists_every_node_and_cells_read_as_before() {
    let mut s = status();
    if let Some(c) = s.config.as_mut() {
        c.nodes.truncate(3);
    }
    let (rows, hidden) = select(node_lines(&s), &StatusArgs::default());
    assert_eq!((ids(&rows), hidden), (vec![1, 2, 3], 0));
    assert_eq!(rows[0].cells()[2], "n1 (local)");
    assert_eq!(rows[0].cells()[5], "10.0.0.2 local");
    assert_eq!(rows[1].cells()[5], "10.0.0.3 up 0.02 ms");
    assert_eq!(rows[1].cells()[3], "voter");
}

#[test]
fn warnings_are_cut_after_the_first_ten() {
    let s = status();
    let (shown, more) = warnings_shown(&s.warnings);
    assert_eq!((shown.len(), more), (WARNINGS_SHOWN, 15));
    assert_eq!(warnings_shown(&s.warnings[..3]), (&s.warnings[..3], 0));
}
