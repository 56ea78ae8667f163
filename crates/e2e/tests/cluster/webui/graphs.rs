//! Graphs (issue 17): every node samples itself and its guests every 10 s into its
//! round-robin history; `rrddata` answers from any node (forwarded to the owner), the
//! per-guest figures are in `/metrics`, the history survives the node's restart, and the
//! node and guest Summary tabs draw the graphs with points, gaining points as samples come.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use brigade_api::rrd::RrdRow;
use brigade_client::Client;
use brigade_core::layout::GuestKind;
use brigade_core::poll_until;
use brigade_e2e::guests::appliance;
use brigade_e2e::{brigade_json, brigade_ok, cluster, wait_task};
use brigade_node::config::RaftTuning;
use serde_json::Value;

use super::browser::Browser;
use super::{login_with_token, PAGE_TIMEOUT, POWER_TIMEOUT};

const SUBNET: u8 = 123;
const CTID: u32 = 201;
/// Two samples at 10 s each, with margin for a loaded machine.
const SAMPLES_TIMEOUT: Duration = Duration::from_secs(60);
/// An offline migration of a small container, with margin for a loaded machine.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the history is asked for while waiting.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// A restarted node takes this long at most to answer again.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

/// The number of points with a value, per graph, in the content panel.
const GRAPH_POINTS: &str = r"
const out = {};
for (const s of document.querySelectorAll('[data-role=panel] [data-graph]')) {
  const svg = s.querySelector('svg');
  out[s.dataset.graph] = svg ? Number(svg.dataset.points) : -1;
}
return out;";

fn known(rows: &[RrdRow], f: impl Fn(&RrdRow) -> Option<f64>) -> usize {
    rows.iter().filter(|r| f(r).is_some()).count()
}

/// Waits until `get` answers a history with at least `n` CPU points.
async fn cpu_points<F, Fut>(what: &str, n: usize, get: F) -> Vec<RrdRow>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<RrdRow>, brigade_client::ClientError>>,
{
    let start = Instant::now();
    poll_until(start + SAMPLES_TIMEOUT, PROBE_INTERVAL, || async {
        get().await.ok().filter(|rows| known(rows, |r| r.cpu) >= n)
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not {n} CPU points within {SAMPLES_TIMEOUT:?}"))
}

async fn graph_points(b: &Browser) -> Value {
    b.eval(GRAPH_POINTS, Value::Null).await
}

/// Scrolls the graphs into view and takes a screenshot.
async fn shoot_graphs(b: &Browser, name: &str) {
    b.eval(
        "const g = document.querySelector('[data-role=graphs]'); if (g) g.scrollIntoView(); return null;",
        Value::Null,
    )
    .await;
    b.screenshot(name).await;
}

fn points(v: &Value, graph: &str) -> i64 {
    v[graph].as_i64().unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_and_guests_keep_graph_history_served_from_any_node_and_drawn_in_the_page() {
    let appliance = appliance();
    let mut c = cluster("webui-graphs", SUBNET, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client n1");
    let token = c.root_token.clone().expect("root token");
    let url = format!("{}/", c.nodes[0].config.api_url().trim_end_matches('/'));

    // n2's history, asked of n1 (forwarded): two samples of CPU, memory, load, rates.
    let rows = cpu_points("n2's history through n1", 2, || {
        n1.node_rrd("n2", "hour", "AVERAGE")
    })
    .await;
    assert_eq!(rows.len(), 360, "an hour at 10 s");
    for w in rows.windows(2) {
        assert_eq!(w[1].time - w[0].time, 10, "10 s steps");
    }
    let with_mem: Vec<&RrdRow> = rows.iter().filter(|r| r.mem.is_some()).collect();
    assert!(with_mem.len() >= 2, "memory points: {}", with_mem.len());
    for r in &with_mem {
        let (mem, max) = (r.mem.unwrap_or(-1.0), r.maxmem.unwrap_or(-1.0));
        assert!(mem > 0.0 && mem <= max, "mem {mem} of {max}");
        assert!(
            r.maxcpu.unwrap_or(0.0) >= 1.0 && r.loadavg.is_some(),
            "{r:?}"
        );
    }
    for r in rows.iter().filter_map(|r| r.cpu) {
        assert!((0.0..=1.0).contains(&r), "cpu share {r}");
    }
    assert!(known(&rows, |r| r.netin) >= 1 && known(&rows, |r| r.diskwrite) >= 1);
    for (tf, n) in [("day", 1440), ("week", 336), ("month", 124), ("year", 366)] {
        let rows = n1.node_rrd("n3", tf, "MAX").await.expect(tf);
        assert_eq!(rows.len(), n, "{tf}");
        assert!(
            known(&rows, |r| r.mem) >= 1,
            "{tf}: the current bucket has a sample"
        );
    }
    let bad = n1.node_rrd("n2", "decade", "AVERAGE").await;
    assert!(
        bad.as_ref()
            .is_err_and(|e| e.to_string().contains("timeframe")),
        "an unknown timeframe: {bad:?}"
    );

    // A container on n2: its history asked of n1 and n3, and its figures in n2's /metrics.
    let template = appliance.join("rootfs").display().to_string();
    let mut cfg = BTreeMap::new();
    cfg.insert("hostname".to_string(), "grapher".to_string());
    cfg.insert("memory".to_string(), "64".to_string());
    cfg.insert("rootfs".to_string(), "local:1".to_string());
    n1.guest_create("n2", GuestKind::Lxc, CTID, &cfg, Some(&template), false)
        .await
        .expect("create the container");
    let loc = n1.locate(CTID).await.expect("locate");
    tokio::time::timeout(
        POWER_TIMEOUT,
        n1.guest_power(&loc, "start", serde_json::json!({})),
    )
    .await
    .expect("start in time")
    .expect("start the container");
    let n3 = c.client(2).expect("client n3");
    let ct = cpu_points("CT 201's history through n3", 2, || {
        n3.guest_rrd(GuestKind::Lxc, CTID, "hour", "AVERAGE")
    })
    .await;
    assert!(
        ct.iter().any(|r| r.maxmem == Some(64.0 * 1024.0 * 1024.0)),
        "its configured memory"
    );
    assert!(
        ct.iter().any(|r| r.mem.is_some_and(|m| m > 0.0)),
        "its resident memory"
    );
    assert!(
        ct.iter().all(|r| r.loadavg.is_none()),
        "a guest has no load average"
    );
    // The CLI on n1: the guest's rows (JSON) and the node's table.
    let cfg = c.nodes[0].config_path.clone();
    let cli = brigade_json(&cfg, &["node", "rrd", "--vmid", "201", "--kind", "lxc"]);
    let cli_rows: Vec<RrdRow> = serde_json::from_value(cli).expect("rrd rows");
    assert!(
        known(&cli_rows, |r| r.cpu) >= 2,
        "brigade node rrd --vmid: {cli_rows:?}"
    );
    let table = brigade_ok(
        &cfg,
        &["node", "rrd", "n2", "--timeframe", "day", "--cf", "MAX"],
    );
    assert!(
        table.contains("maxmem MiB") && table.lines().count() >= 4,
        "{table}"
    );
    let n2 = c.client(1).expect("client n2");
    let metrics = n2.metrics().await.expect("metrics");
    for name in [
        "brigade_guest_cpu",
        "brigade_guest_memory_bytes",
        "brigade_guest_memory_max_bytes",
    ] {
        assert!(
            metrics.contains(&format!("{name}{{vmid=\"{CTID}\",type=\"lxc\"}}")),
            "{name} of CT {CTID} missing in n2's /metrics"
        );
    }

    // The page: n2's Summary draws its graphs with points, and they gain points.
    let b = Browser::start(&c.dir).await;
    login_with_token(&b, &url, &token).await;
    b.click("li[data-tree=node][data-id=n2] > a", PAGE_TIMEOUT)
        .await;
    let first = b
        .wait_value(
            "n2's graphs with points",
            PAGE_TIMEOUT,
            || graph_points(&b),
            |v| {
                points(v, "cpu") >= 2
                    && points(v, "mem") >= 2
                    && points(v, "load") >= 2
                    && points(v, "net") >= 2
            },
        )
        .await;
    shoot_graphs(&b, "node-graphs").await;
    let before = points(&first, "cpu");
    b.wait_value(
        "n2's CPU graph gaining a point",
        SAMPLES_TIMEOUT,
        || graph_points(&b),
        |v| points(v, "cpu") > before,
    )
    .await;
    b.click(
        "[data-role=graph-choice] [data-timeframe=day]",
        PAGE_TIMEOUT,
    )
    .await;
    b.wait_value(
        "the day graph with its minute's point",
        PAGE_TIMEOUT,
        || graph_points(&b),
        |v| points(v, "mem") >= 1,
    )
    .await;
    shoot_graphs(&b, "node-graphs-day").await;
    b.click(
        "[data-role=graph-choice] [data-timeframe=hour]",
        PAGE_TIMEOUT,
    )
    .await;
    b.click(
        &format!("li[data-tree=guest][data-id='{CTID}'] > a"),
        PAGE_TIMEOUT,
    )
    .await;
    let g = b
        .wait_value(
            "CT 201's graphs with points",
            PAGE_TIMEOUT,
            || graph_points(&b),
            |v| points(v, "cpu") >= 2 && points(v, "mem") >= 2 && points(v, "disk") >= 0,
        )
        .await;
    assert_eq!(points(&g, "load"), -1, "a guest has no load graph: {g}");
    let before = points(&g, "cpu");
    b.wait_value(
        "CT 201's CPU graph gaining a point",
        SAMPLES_TIMEOUT,
        || graph_points(&b),
        |v| points(v, "cpu") > before,
    )
    .await;
    shoot_graphs(&b, "guest-graphs").await;
    b.quit().await;

    // The history survives n3's restart: the points from before it are still there.
    let before: Vec<u64> = n1
        .node_rrd("n3", "hour", "AVERAGE")
        .await
        .expect("n3's history")
        .iter()
        .filter(|r| r.mem.is_some())
        .map(|r| r.time)
        .collect();
    assert!(before.len() >= 2, "n3 has samples before its restart");
    c.stop(2).expect("stop n3");
    c.start(2).expect("start n3");
    let client: &Client = &n1;
    let after = poll_until(Instant::now() + RESTART_TIMEOUT, PROBE_INTERVAL, || async {
        client.node_rrd("n3", "hour", "AVERAGE").await.ok()
    })
    .await
    .expect("n3 answers again after its restart");
    let kept: Vec<u64> = after
        .iter()
        .filter(|r| r.mem.is_some())
        .map(|r| r.time)
        .collect();
    for t in &before {
        assert!(
            kept.contains(t),
            "the sample at {t} was lost in the restart (kept {kept:?})"
        );
    }

    // The guest's history follows it: migrated to n3, the points n2 sampled are answered
    // by n3, and n2 keeps no copy.
    let sampled_on_n2 = max_mem_times(&n1, CTID).await;
    assert!(sampled_on_n2.len() >= 2, "CT 201 has samples on n2");
    let loc = n1.locate(CTID).await.expect("locate");
    n1.guest_power(&loc, "stop", serde_json::json!({}))
        .await
        .expect("stop the container");
    let task = n1.guest_migrate(&loc, "n3", false).await.expect("migrate");
    let done = wait_task(&n1, &task.node, &task.upid, MIGRATION_TIMEOUT).await;
    assert_eq!(done.exitstatus.as_deref(), Some("OK"), "{done:?}");
    assert_eq!(n1.locate(CTID).await.expect("locate").node, "n3");
    let on_n3 = max_mem_times(&n1, CTID).await;
    for t in &sampled_on_n2 {
        assert!(
            on_n3.contains(t),
            "n2's sample at {t} did not follow CT {CTID} to n3 (n3 has {on_n3:?})"
        );
    }
    assert!(
        !c.nodes[1].state_dir().join("rrd/lxc-201.rrd").exists(),
        "n2 dropped its copy"
    );
}

/// When `vmid`'s history (asked of `client`, answered by the guest's node) has samples.
async fn max_mem_times(client: &Client, vmid: u32) -> Vec<u64> {
    client
        .guest_rrd(GuestKind::Lxc, vmid, "hour", "MAX")
        .await
        .expect("the guest's history")
        .iter()
        .filter(|r| r.maxmem.is_some())
        .map(|r| r.time)
        .collect()
}
