//! The page is pushed changes (issue 17): with polling off, a storage added to and removed
//! from storage.cfg shows in the tree and goes again; a power cut of the node that
//! runs the HA VM shows on n1's page (the node dead, quorum held, the VM recovered on a
//! survivor) without a reload, within a few seconds of `brigade cluster status` and
//! `brigade ha status` on n1 showing it; the lag of each is printed. Then the recovered
//! VM's serial console in the page of the survivor that does not run it (xterm.js over
//! the websocket, tunnelled to the VM's node): its ticks appear, and keys are sent.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use brigade_core::poll_until;
use brigade_e2e::brigade;
use brigade_e2e::guests::{guest_pid, ha_vm_on_n2, ticks};
use serde_json::Value;

use super::browser::Browser;
use super::{
    login_with_password, login_with_token, user_with_role, ADMIN, ADMIN_PASSWORD, PAGE_TIMEOUT,
};

const SUBNET: u8 = 232;
/// The ids of the storages in the page's tree.
const STORAGES_SCRIPT: &str =
    "return Array.from(document.querySelectorAll('li[data-tree=storage]')).map((li) => li.dataset.id);";
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

/// A user with PVEAuditor on `/` (the password is the admin's).
const AUDITOR: &str = "carol@pve";
/// Keys typed into the console (a word the guest's output does not have).
const TYPED: &str = "xyzzy";
/// The text of the console's terminal (xterm.js's rows), and what it counted.
const TERMINAL_SCRIPT: &str = r"
const t = document.querySelector('[data-role=terminal]');
const rows = t ? t.querySelector('.xterm-rows') : null;
return t ? { state: t.dataset.state, text: rows ? rows.innerText : '',
  received: Number(t.dataset.received || 0), sent: Number(t.dataset.sent || 0) } : null;";

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
async fn a_power_cut_shows_on_the_page_without_polling_and_the_vm_console_ticks_there() {
    let (mut c, n1) = ha_vm_on_n2(
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

    // storage.cfg changed: the tree's storages follow on push alone (polling is off).
    let root = c.client(0).expect("n1");
    let extra = c.dir.join("pushed-storage");
    std::fs::create_dir_all(&extra).expect("dir");
    root.storage_add(&brigade_api::storage::StorageAddRequest {
        storage: "pushed".into(),
        kind: "dir".into(),
        path: extra.display().to_string(),
        content: Some("images".into()),
        shared: false,
        nodes: None,
    })
    .await
    .expect("add storage pushed");
    let storages = || async { b.eval(STORAGES_SCRIPT, Value::Null).await };
    let has = |v: &Value| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|s| s == "pushed"))
    };
    b.wait_value(
        "the storage added to storage.cfg in the tree, on push",
        PAGE_TIMEOUT,
        storages,
        has,
    )
    .await;
    b.screenshot("storage-added-on-push").await;
    root.storage_remove("pushed")
        .await
        .expect("remove storage pushed");
    b.wait_value(
        "the storage removed from storage.cfg gone from the tree, on push",
        PAGE_TIMEOUT,
        storages,
        |v| v.is_array() && !has(v),
    )
    .await;

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

    // The recovered VM's console, from the page of the survivor that does not run it.
    let runs = [0, 2]
        .into_iter()
        .find(|i| guest_pid(&c, *i, VMID).is_some())
        .expect("VM 100 runs on a survivor");
    let other = if runs == 0 { 2 } else { 0 };
    user_with_role(&n1, ADMIN, "Administrator").await;
    let other_url = format!("{}/", c.nodes[other].config.api_url().trim_end_matches('/'));
    login_with_password(&b, &other_url, ADMIN, ADMIN_PASSWORD).await;
    b.click("li[data-tree=guest][data-id='100'] > a", PAGE_TIMEOUT)
        .await;
    b.click("[data-role=tabs] [data-tab=console]", PAGE_TIMEOUT)
        .await;
    let term = || async { b.eval(TERMINAL_SCRIPT, Value::Null).await };
    let text = |v: &Value| v["text"].as_str().unwrap_or_default().to_string();
    let first = b
        .wait_value(
            &format!(
                "VM 100's ticks in the terminal on {}'s page (the VM on {})",
                c.nodes[other].name, c.nodes[runs].name
            ),
            PAGE_TIMEOUT,
            term,
            |v| v["state"] == "open" && ticks(&text(v)).len() >= 2,
        )
        .await;
    let last = ticks(&text(&first)).last().copied().unwrap_or_default();
    b.wait_value("a later tick in the terminal", PAGE_TIMEOUT, term, |v| {
        ticks(&text(v)).last().is_some_and(|n| *n > last)
    })
    .await;
    b.screenshot("console-ticking").await;
    // Keys typed into the terminal go to the VM's serial port: its tty echoes them, so
    // they come back into the terminal from the guest (xterm.js itself echoes nothing).
    b.type_into("[data-role=terminal] textarea", TYPED).await;
    let typed = b
        .wait_value(
            "the typed keys echoed by the guest",
            PAGE_TIMEOUT,
            term,
            |v| v["sent"].as_u64() >= Some(TYPED.len() as u64) && text(v).contains(TYPED),
        )
        .await;
    assert_eq!(typed["state"], "open", "the console closed: {typed}");
    b.screenshot("console-typed").await;
    // The task panel: a double-click on the recovery task opens its log; it has ended,
    // so it cannot be stopped.
    let opened = b
        .wait_value("the harecover task in the panel, double-clicked", PAGE_TIMEOUT, || async {
            b.eval(
                "const r = Array.from(document.querySelectorAll('[data-role=tasks] tr[data-upid]')).find((r) => r.dataset.upid.includes(':harecover:')); if (!r) return false; r.dispatchEvent(new MouseEvent('dblclick', { bubbles: true })); return true;",
                Value::Null,
            )
            .await
        }, |v| *v == true)
        .await;
    assert_eq!(opened, true);
    let log = b
        .wait_text(
            "the recovery task's log in the dialog",
            "[data-role=task-log]",
            PAGE_TIMEOUT,
            |t| !t.is_empty() && t != "(no lines yet)",
        )
        .await;
    eprintln!("the harecover task's log as the page shows it:\n{log}");
    let ended = b
        .eval(
            "return [document.querySelector('[data-role=task-status]').dataset.status, document.querySelector('[data-action=task-stop]').disabled];",
            Value::Null,
        )
        .await;
    assert_eq!(ended[1], true, "Stop is offered for an ended task: {ended}");
    assert_ne!(ended[0], "running", "the recovery task still runs: {ended}");
    b.screenshot("task-log").await;
    b.click("[data-action=task-close]", PAGE_TIMEOUT).await;

    // An Auditor sees the guest and can change nothing: its buttons are disabled with
    // the reason, and a request forged from the page is refused by the API.
    user_with_role(&n1, AUDITOR, "PVEAuditor").await;
    b.click("[data-action=logout]", PAGE_TIMEOUT).await;
    login_with_password(&b, &other_url, AUDITOR, ADMIN_PASSWORD).await;
    b.click("li[data-tree=guest][data-id='100'] > a", PAGE_TIMEOUT)
        .await;
    let buttons = b
        .wait_value("the Auditor's guest buttons disabled with the reason", PAGE_TIMEOUT, || async {
            b.eval(
                "return Array.from(document.querySelectorAll('[data-role=guest-actions] button')).map((x) => [x.dataset.action, x.disabled, x.title]);",
                Value::Null,
            )
            .await
        }, |v| {
            v.as_array().is_some_and(|a| {
                a.len() == 5
                    && a.iter().all(|x| x[1] == true && x[2].as_str().is_some_and(|t| t.contains("you lack VM.")))
            })
        })
        .await;
    eprintln!("the Auditor's buttons: {buttons}");
    b.screenshot("auditor-buttons").await;
    let forged = b
        .eval(
            &format!(
                "const s = JSON.parse(sessionStorage.getItem('brigade.session')); return fetch('/api2/json/nodes/{}/qemu/{VMID}/status/stop', {{ method: 'POST', headers: {{ 'Content-Type': 'application/json', CSRFPreventionToken: s.csrf }}, body: '{{}}' }}).then((r) => r.status);",
                c.nodes[runs].name
            ),
            Value::Null,
        )
        .await;
    assert_eq!(forged, 403, "the Auditor's forged stop was not refused");
    assert!(
        guest_pid(&c, runs, VMID).is_some(),
        "the forged stop stopped VM 100"
    );

    // A page of another origin may not open the console with the ticket cookie: the
    // same upgrade is refused with a foreign Origin, switched with the node's own.
    let ca = c.ca_pem.clone().expect("cluster CA");
    let https = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA"))
        .build()
        .expect("https client");
    let ws_url = format!(
        "{other_url}api2/json/nodes/{}/qemu/{VMID}/console/ws",
        c.nodes[runs].name
    );
    let upgrade = |origin: String| {
        https
            .get(&ws_url)
            .header("authorization", format!("BrigadeToken {token}"))
            .header("origin", origin)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
    };
    let foreign = upgrade("https://elsewhere.example".into())
        .await
        .expect("upgrade request");
    assert_eq!(foreign.status(), 403, "a foreign origin got the console");
    let own = upgrade(other_url.trim_end_matches('/').to_string())
        .await
        .expect("upgrade request");
    assert_eq!(own.status(), 101, "the node's own origin was refused");
    drop(own);
    b.quit().await;
}
