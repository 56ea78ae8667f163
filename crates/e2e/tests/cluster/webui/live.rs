//! The page is pushed changes (issue 17): with polling off, a power cut of the node that
//! runs the HA VM shows on n1's page (the node dead, quorum held, the VM recovered on a
//! survivor) without a reload, within a few seconds of `brigade cluster status` and
//! `brigade ha status` on n1 showing it; the lag of each is printed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use brigade_core::poll_until;
use brigade_e2e::brigade;
use brigade_e2e::guests::ha_vm_on_n2;
use serde_json::Value;

use super::browser::Browser;
use super::{login_with_token, PAGE_TIMEOUT};

const SUBNET: u8 = 232;
const VMID: u32 = 100;
/// Short HA timing, as the HA tests use: fence after 6 s.
const DATACENTER: &str = "migration: secure\nha: fence_timeout=6\n";
const NODE_TIMEOUT_SECS: u32 = 3;
const BOOT: Duration = Duration::from_secs(40);
/// From the power cut to the VM running on a survivor, with margin.
const FAILOVER: Duration = Duration::from_secs(90);
/// The page's polling interval here (an hour): whatever it shows during the test came
/// by push; without the change stream the test fails.
const POLL_INTERVAL_MS: u64 = 3_600_000;
/// How far the page may lag behind the CLI on n1 (the issue asks a second; generous on a
/// loaded machine).
const MAX_LAG: Duration = Duration::from_secs(3);
/// How often each side is looked at.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// What the page shows: n2's state in the tree, the Datacenter summary's quorate fact,
/// and VM 100's node and status in the tree.
const PAGE_SCRIPT: &str = r"
const n2 = document.querySelector('li[data-tree=node][data-id=n2]');
const q = document.querySelector('[data-role=panel] [data-fact=quorate] td');
const g = document.querySelector('li[data-tree=guest][data-id=\'100\']');
const live = document.querySelector('[data-role=live]');
return {
  n2: n2 ? n2.dataset.state : null,
  quorate: q ? q.innerText.trim() : null,
  guest_node: g ? g.dataset.node : null,
  guest_status: g ? g.dataset.status : null,
  push: live ? live.dataset.push : null,
};";

/// The three facts, in the order they are reported.
const FACTS: [&str; 3] = ["n2 dead", "quorum held", "VM 100 recovered on a survivor"];

/// The page's view as the three facts.
fn page_facts(v: &Value) -> [bool; 3] {
    let survivor = v["guest_node"] == "n1" || v["guest_node"] == "n3";
    [
        v["n2"] == "offline",
        v["quorate"] == "Yes",
        survivor && v["guest_status"] == "running",
    ]
}

/// `brigade cluster status` and `brigade ha status` on n1 as the three facts.
fn cli_facts(cfg: &std::path::Path) -> [bool; 3] {
    let json = |args: &[&str]| -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let (ok, out, _) = brigade(cfg, &all);
        if ok {
            serde_json::from_str(&out).unwrap_or_default()
        } else {
            Value::Null
        }
    };
    let status = json(&["cluster", "status"]);
    let ha = json(&["ha", "status"]);
    let n2_dead = status["members"]
        .as_array()
        .is_some_and(|m| m.iter().any(|p| p["name"] == "n2" && p["alive"] == false));
    let recovered = ha["services"].as_array().is_some_and(|s| {
        s.iter().any(|x| {
            x["sid"] == "vm:100"
                && (x["node"] == "n1" || x["node"] == "n3")
                && x["state"] == "started"
                && x["running"] == true
        })
    });
    [n2_dead, status["quorate"] == true, recovered]
}

/// Records the first time each fact holds.
fn record(seen: &Mutex<[Option<Instant>; 3]>, facts: [bool; 3]) -> bool {
    let mut s = seen.lock().expect("lock");
    for (slot, holds) in s.iter_mut().zip(facts) {
        if holds && slot.is_none() {
            *slot = Some(Instant::now());
        }
    }
    s.iter().all(Option::is_some)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_power_cut_shows_on_the_page_without_a_reload_and_without_polling() {
    let (mut c, _n1) = ha_vm_on_n2(
        "webui-live",
        SUBNET,
        NODE_TIMEOUT_SECS,
        DATACENTER,
        VMID,
        BOOT,
    )
    .await;
    let token = c.root_token.clone().expect("root token");
    let url = format!("{}/", c.nodes[0].config.api_url().trim_end_matches('/'));
    let cfg = c.nodes[0].config_path.clone();

    let b = Browser::start(&c.dir).await;
    // Polling off (an hour) before the page starts: only the push can move it.
    b.goto(&url).await;
    b.eval(
        "localStorage.setItem('brigade.pollIntervalMs', String(arguments[0])); return true;",
        serde_json::json!(POLL_INTERVAL_MS),
    )
    .await;
    login_with_token(&b, &url, &token).await;
    b.click("li[data-tree=dc] > a", PAGE_TIMEOUT).await;
    let page = || async { b.eval(PAGE_SCRIPT, Value::Null).await };
    b.wait_value(
        "n1's page on push: n2 online, quorate, VM 100 running on n2",
        PAGE_TIMEOUT,
        page,
        |v| {
            v["push"] == "live"
                && v["n2"] == "online"
                && v["quorate"] == "Yes"
                && v["guest_node"] == "n2"
                && v["guest_status"] == "running"
        },
    )
    .await;
    let live = b.text("[data-role=live]").await.unwrap_or_default();
    assert!(
        live.contains("live") && !live.contains("polling"),
        "the page is not on push: {live}"
    );
    b.screenshot("live-before-power-cut").await;

    let cut = Instant::now();
    c.power_cut(1);
    eprintln!("power cut of n2 (daemon and guests SIGKILLed)");
    let on_page = Mutex::new([None; 3]);
    let on_cli = Mutex::new([None; 3]);
    let deadline = cut + FAILOVER;
    let watch_page = poll_until(deadline, PROBE_INTERVAL, || async {
        let v = b.eval(PAGE_SCRIPT, Value::Null).await;
        record(&on_page, page_facts(&v))
    });
    let watch_cli = poll_until(deadline, PROBE_INTERVAL, || async {
        let cfg = cfg.clone();
        let facts = tokio::task::spawn_blocking(move || cli_facts(&cfg))
            .await
            .expect("the CLI probe");
        record(&on_cli, facts)
    });
    let (page_done, cli_done) = tokio::join!(watch_page, watch_cli);
    b.screenshot("live-after-power-cut").await;
    let on_page = *on_page.lock().expect("lock");
    let on_cli = *on_cli.lock().expect("lock");
    let secs = |t: Option<Instant>| t.map(|t| t.duration_since(cut).as_secs_f64());
    for (i, fact) in FACTS.iter().enumerate() {
        let (p, q) = (secs(on_page[i]), secs(on_cli[i]));
        eprintln!(
            "{fact}: CLI on n1 at {q:?} s, the page at {p:?} s after the cut, lag {:?} s",
            p.zip(q).map(|(p, q)| p - q)
        );
    }
    assert!(
        cli_done.is_ok(),
        "the CLI on n1 did not show all of {FACTS:?} within {FAILOVER:?}: {:?}",
        on_cli.map(secs)
    );
    assert!(
        page_done.is_ok(),
        "the page did not show all of {FACTS:?} within {FAILOVER:?} (without polling): {:?}",
        on_page.map(secs)
    );
    for (i, fact) in FACTS.iter().enumerate() {
        if let (Some(p), Some(q)) = (on_page[i], on_cli[i]) {
            let lag = p.saturating_duration_since(q);
            assert!(
                lag <= MAX_LAG,
                "the page showed '{fact}' {lag:?} after the CLI on n1 (more than {MAX_LAG:?})"
            );
        }
    }
    b.quit().await;
}
