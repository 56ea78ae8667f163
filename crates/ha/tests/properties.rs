//! Random event sequences through the simulator, with every node acting on its own
//! (possibly stale) view: no guest ever runs on two nodes in the same instant, no node
//! starts a guest without quorum, and once the cluster heals every started guest runs
//! exactly once. With random HA rules too: no feasible negative or strict node-affinity
//! rule is broken in any instant, and once healed every positive rule holds.

// A test: a failed expectation is a failed test.
#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use brigade_ha::config::{RequestState, ShutdownPolicy};
use brigade_ha::rules::{self, Affinity, Rule, RuleKind, RulesConfig};
use brigade_ha::sim::{Event, Sim};
use brigade_ha::{ServiceId, Timing};
use proptest::prelude::*;

const NODES: [&str; 4] = ["n1", "n2", "n3", "n4"];
/// Guests 100 and 101 are HA-managed from the start; 102 and 103 run outside HA until
/// an `ha add` event (if one is drawn).
const GUESTS: u32 = 4;
/// The fence timeouts the administrator switches between (ms).
const FENCE_CHOICES: [u64; 3] = [3000, 10_000, 30_000];

fn node() -> impl Strategy<Value = String> {
    (0..NODES.len()).prop_map(|i| NODES[i].to_string())
}

fn vm(i: u32) -> ServiceId {
    format!("vm:{}", 100 + i).parse().expect("sid")
}

fn sid() -> impl Strategy<Value = ServiceId> {
    (0..GUESTS).prop_map(vm)
}

fn add(sid: ServiceId) -> Event {
    Event::ServiceAdd {
        sid,
        node: None,
        group: None,
        state: RequestState::Started,
        memory: 512,
        max_restart: None,
        max_relocate: None,
        cpus: None,
        failback: true,
        nics: Vec::new(),
    }
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (node(), any::<bool>()).prop_map(|(n, b)| Event::Power(n, b)),
        (node(), any::<bool>()).prop_map(|(n, b)| Event::Network(n, b)),
        (node(), any::<bool>()).prop_map(|(n, b)| Event::Acks(n, b)),
        node().prop_map(Event::DaemonHang),
        node().prop_map(Event::DaemonStart),
        node().prop_map(Event::DaemonStop),
        (node(), any::<bool>()).prop_map(|(n, b)| Event::Maintenance(n, b)),
        (sid(), node()).prop_map(|(s, n)| Event::Migrate(s, n)),
        (
            sid(),
            prop_oneof![
                Just("started"),
                Just("stopped"),
                Just("disabled"),
                Just("ignored")
            ]
        )
            .prop_map(|(s, st)| Event::ServiceState(s, RequestState::parse(st).expect("state"))),
        sid().prop_map(add),
        sid().prop_map(Event::ServiceRemove),
        (sid(), node(), any::<bool>()).prop_map(|(s, n, b)| Event::FailStart(s, n, b)),
        prop_oneof![Just("freeze"), Just("failover"), Just("migrate")]
            .prop_map(|p| Event::Policy(ShutdownPolicy::parse(p).expect("policy"))),
        (0..FENCE_CHOICES.len()).prop_map(|i| Event::FenceTimeout(FENCE_CHOICES[i])),
    ]
}

/// A random rule over the guests: kept apart, kept together, or bound to nodes.
fn rule() -> impl Strategy<Value = Rule> {
    let members = || proptest::collection::btree_set(sid(), 1..=3);
    let nodes = proptest::collection::btree_map(node(), 0i32..3, 1..=3);
    prop_oneof![
        (members(), any::<bool>()).prop_map(|(resources, negative)| Rule {
            id: String::new(),
            kind: RuleKind::ResourceAffinity {
                affinity: if negative {
                    Affinity::Negative
                } else {
                    Affinity::Positive
                },
            },
            resources,
            disable: false,
            comment: None,
        }),
        (members(), nodes, any::<bool>()).prop_map(|(resources, nodes, strict)| Rule {
            id: String::new(),
            kind: RuleKind::NodeAffinity { nodes, strict },
            resources,
            disable: false,
            comment: None,
        }),
    ]
}

/// The rules with names, and strict node affinity made non-strict for guests a
/// negative rule separates (greedy placement could then wait forever after the heal,
/// which is liveness, not the safety this test checks; the scenarios cover it).
fn named(mut v: Vec<Rule>) -> RulesConfig {
    for (i, r) in v.iter_mut().enumerate() {
        r.id = format!("r{i}");
    }
    let nodes: Vec<String> = NODES.iter().map(|s| s.to_string()).collect();
    let c = rules::compile(&RulesConfig { rules: v.clone() }, &nodes);
    for r in &mut v {
        if let RuleKind::NodeAffinity { strict, .. } = &mut r.kind {
            if r.resources.iter().any(|s| c.apart.contains_key(s)) {
                *strict = false;
            }
        }
    }
    RulesConfig { rules: v }
}

/// Where each guest starts so that every feasible rule holds (None: greedy found no way).
fn placement(rules: &RulesConfig) -> Option<BTreeMap<ServiceId, String>> {
    let nodes: Vec<String> = NODES.iter().map(|s| s.to_string()).collect();
    let c = rules::compile(rules, &nodes);
    let mut at: BTreeMap<ServiceId, String> = BTreeMap::new();
    for i in 0..GUESTS {
        let s = vm(i);
        let fits = |n: &String| {
            let na_ok = c
                .node_affinity
                .get(&s)
                .is_none_or(|na| !na.strict || na.nodes.contains_key(n));
            let apart_ok = c
                .apart
                .get(&s)
                .is_none_or(|p| p.keys().all(|o| at.get(o) != Some(n)));
            let together_ok = c
                .together
                .get(&s)
                .is_none_or(|(_, p)| p.iter().all(|o| at.get(o).is_none_or(|x| x == n)));
            na_ok && apart_ok && together_ok
        };
        // Its own node first (as the plain test places them), then any that fits.
        let own = NODES[i as usize].to_string();
        let n = std::iter::once(&own)
            .chain(nodes.iter())
            .find(|n| fits(n))?;
        at.insert(s, n.clone());
    }
    Some(at)
}

/// Runs one case: guests placed at `at`, 100 and 101 HA from the start, `events`, then
/// a heal; checks what the module doc says.
fn run_case(
    events: Vec<(u64, Event)>,
    fence: u64,
    rules: &RulesConfig,
    at: &BTreeMap<ServiceId, String>,
) -> Result<(), TestCaseError> {
    let nodes: Vec<String> = NODES.iter().map(|s| s.to_string()).collect();
    let mut sim = Sim::new(&nodes, Timing::from_fence_timeout(fence));
    sim.check_rules = !rules.rules.is_empty();
    let mut all: Vec<(u64, Event)> = rules
        .rules
        .iter()
        .map(|r| (0, Event::Rule(r.clone())))
        .collect();
    all.extend((0..GUESTS).map(|i| {
        (
            0,
            Event::Guest {
                sid: vm(i),
                node: at[&vm(i)].clone(),
                running: true,
                memory: 512,
            },
        )
    }));
    all.push((0, add(vm(0))));
    all.push((0, add(vm(1))));
    let mut timed: Vec<(u64, Event)> = events.into_iter().map(|(t, e)| (t * 1000, e)).collect();
    timed.sort_by_key(|(t, _)| *t);
    all.extend(timed);
    // Then everything heals: power, network, daemons, no maintenance, no faults, all
    // HA-managed and started.
    let heal = 100_000;
    for n in NODES {
        all.push((heal, Event::Power(n.into(), true)));
        all.push((heal, Event::Network(n.into(), true)));
        all.push((heal, Event::Acks(n.into(), true)));
        all.push((heal, Event::DaemonStart(n.into())));
    }
    for n in NODES {
        all.push((heal + 1000, Event::Maintenance(n.into(), false)));
    }
    for i in 0..GUESTS {
        for n in NODES {
            all.push((heal, Event::FailStart(vm(i), n.into(), false)));
        }
        all.push((heal + 1000, add(vm(i))));
        all.push((
            heal + 1000,
            Event::ServiceState(vm(i), RequestState::Disabled),
        ));
        all.push((
            heal + 6000,
            Event::ServiceState(vm(i), RequestState::Started),
        ));
    }
    all.sort_by_key(|(t, _)| *t);
    let longest = Timing::from_fence_timeout(FENCE_CHOICES[2]).lease_ms;
    let end = heal + 6000 + 3 * longest + 10_000;
    if let Err(v) = sim.run(&all, end) {
        prop_assert!(false, "invariant violated: {v}\n{}", sim.log.join("\n"));
    }
    if let Err(e) = sim.all_started_run_once() {
        prop_assert!(false, "after healing: {e}\n{}", sim.log.join("\n"));
    }
    if let Err(e) = sim.positive_rules_hold() {
        prop_assert!(false, "after healing: {e}\n{}", sim.log.join("\n"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn never_twice_never_without_quorum_and_never_lost(
        events in proptest::collection::vec((0u64..90, event()), 0..25),
        fence in prop_oneof![Just(3000u64), Just(10_000u64)],
    ) {
        let at: BTreeMap<ServiceId, String> =
            (0..GUESTS).map(|i| (vm(i), NODES[i as usize].to_string())).collect();
        run_case(events, fence, &RulesConfig::default(), &at)?;
    }

    #[test]
    fn no_feasible_rule_is_ever_broken(
        rule_list in proptest::collection::vec(rule(), 1..=4),
        events in proptest::collection::vec((0u64..90, event()), 0..25),
        fence in prop_oneof![Just(3000u64), Just(10_000u64)],
    ) {
        let rules = named(rule_list);
        let at = placement(&rules);
        prop_assume!(at.is_some());
        let at = at.unwrap_or_default();
        let used: BTreeSet<ServiceId> = rules.rules.iter().flat_map(|r| r.resources.iter().copied()).collect();
        prop_assume!(!used.is_empty());
        run_case(events, fence, &rules, &at)?;
    }
}
