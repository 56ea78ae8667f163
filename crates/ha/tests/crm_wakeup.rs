//! The CRM's next step is due when the next node lease runs out: a lost node's guests
//! are recovered at that instant, not up to a round later.

use std::collections::{BTreeMap, BTreeSet};

use brigade_ha::crm::{next_lease_expiry, CrmInput, NodeInput};
use brigade_ha::crs::{CrsSettings, Usage};
use brigade_ha::rules::RulesConfig;
use brigade_ha::{GroupsConfig, LrmStatus, ResourcesConfig, Timing};

#[test]
fn the_next_step_is_due_when_the_earliest_running_lease_ends() {
    let timing = Timing::from_fence_timeout(10_000);
    let node = |name: &str, renewed: Option<u64>, fence: Option<u64>| NodeInput {
        name: name.into(),
        last_renewal_ms: renewed,
        lrm: LrmStatus {
            fence_timeout_ms: fence,
            ..LrmStatus::default()
        },
    };
    let nodes = vec![
        node("n1", Some(50_000), None),
        // Announced a longer fence timeout: its lease is longer too.
        node("n2", Some(49_000), Some(30_000)),
        // Never seen: a full lease from when this leader started.
        node("n3", None, None),
    ];
    let (resources, groups, rules) = (
        ResourcesConfig::default(),
        GroupsConfig::default(),
        RulesConfig::default(),
    );
    let (locations, memory, migrations) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let maintenance = BTreeSet::new();
    let usage = Usage::default();
    let (guest_bridges, node_bridges) = (BTreeMap::new(), BTreeMap::new());
    let input = |now_ms: u64| CrmInput {
        now_ms,
        leader_since_ms: 45_000,
        me: "n1",
        timing,
        nodes: &nodes,
        resources: &resources,
        groups: &groups,
        locations: &locations,
        memory_mib: &memory,
        maintenance: &maintenance,
        migrations: &migrations,
        rules: &rules,
        crs: CrsSettings::default(),
        usage: &usage,
        guest_bridges: &guest_bridges,
        node_bridges: &node_bridges,
    };
    // n3's lease (from 45 s) ends at 57 s, n1's at 62 s, n2's (36 s) at 85 s.
    assert_eq!(next_lease_expiry(&input(51_000)), Some(57_000));
    assert_eq!(next_lease_expiry(&input(57_000)), Some(62_000));
    assert_eq!(next_lease_expiry(&input(70_000)), Some(85_000));
    assert_eq!(next_lease_expiry(&input(90_000)), None);
}
