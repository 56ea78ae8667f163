//! Random event sequences through the simulator: an HA guest never runs on two nodes
//! in the same instant, and once the cluster heals every started guest runs exactly once.

use brigade_ha::sim::{Event, Sim};
use brigade_ha::{ServiceId, Timing};
use proptest::prelude::*;

const NODES: [&str; 4] = ["n1", "n2", "n3", "n4"];

fn node() -> impl Strategy<Value = String> {
    (0..NODES.len()).prop_map(|i| NODES[i].to_string())
}

fn sid() -> impl Strategy<Value = ServiceId> {
    (0u32..4).prop_map(|i| format!("vm:{}", 100 + i).parse().expect("sid"))
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (node(), any::<bool>()).prop_map(|(n, b)| Event::Power(n, b)),
        (node(), any::<bool>()).prop_map(|(n, b)| Event::Network(n, b)),
        node().prop_map(Event::DaemonHang),
        node().prop_map(Event::DaemonStart),
        node().prop_map(Event::DaemonStop),
        (node(), any::<bool>()).prop_map(|(n, b)| Event::Maintenance(n, b)),
        (sid(), node()).prop_map(|(s, n)| Event::Migrate(s, n)),
        (
            sid(),
            prop_oneof![Just("started"), Just("stopped"), Just("disabled")]
        )
            .prop_map(|(s, st)| Event::ServiceState(
                s,
                brigade_ha::config::RequestState::parse(st).expect("state")
            )),
        (sid(), node(), any::<bool>()).prop_map(|(s, n, b)| Event::FailStart(s, n, b)),
        prop_oneof![Just("freeze"), Just("failover"), Just("migrate")].prop_map(|p| Event::Policy(
            brigade_ha::sim::ShutdownPolicy::parse(p).expect("policy")
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn never_twice_and_never_lost(
        events in proptest::collection::vec((0u64..90, event()), 0..25),
        fence in prop_oneof![Just(3000u64), Just(10_000u64)],
    ) {
        let nodes: Vec<String> = NODES.iter().map(|s| s.to_string()).collect();
        let mut sim = Sim::new(&nodes, Timing::from_fence_timeout(fence));
        let mut all: Vec<(u64, Event)> = (0..4u32)
            .map(|i| (0, Event::ServiceAdd {
                sid: format!("vm:{}", 100 + i).parse().expect("sid"),
                node: NODES[i as usize].to_string(),
                group: None,
                state: brigade_ha::config::RequestState::Started,
                memory: 512,
                max_restart: None,
                max_relocate: None,
            }))
            .collect();
        let mut timed: Vec<(u64, Event)> = events.into_iter().map(|(t, e)| (t * 1000, e)).collect();
        timed.sort_by_key(|(t, _)| *t);
        all.extend(timed);
        // Then everything heals: power, network, daemons, no maintenance, no faults, all started.
        let heal = 100_000;
        for n in NODES {
            all.push((heal, Event::Power(n.into(), true)));
            all.push((heal, Event::Network(n.into(), true)));
            all.push((heal, Event::DaemonStart(n.into())));
            all.push((heal, Event::Maintenance(n.into(), false)));
        }
        for i in 0..4u32 {
            let s: ServiceId = format!("vm:{}", 100 + i).parse().expect("sid");
            for n in NODES {
                all.push((heal, Event::FailStart(s, n.into(), false)));
            }
            all.push((heal, Event::ServiceState(s, brigade_ha::config::RequestState::Disabled)));
            all.push((heal + 5000, Event::ServiceState(s, brigade_ha::config::RequestState::Started)));
        }
        all.sort_by_key(|(t, _)| *t);
        let end = heal + 5000 + 3 * Timing::from_fence_timeout(fence).lease_ms + 10_000;
        if let Err(v) = sim.run(&all, end) {
            prop_assert!(false, "invariant violated: {v}\n{}", sim.log.join("\n"));
        }
        if let Err(e) = sim.all_started_run_once() {
            prop_assert!(false, "after healing: {e}\n{}", sim.log.join("\n"));
        }
    }
}
