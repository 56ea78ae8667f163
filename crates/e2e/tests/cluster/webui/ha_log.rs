//! HA, maintenance and the cluster log through the page (issue 17), then what an Auditor
//! may do there, on a real 3-node cluster: the migrate dialog refusing a target that
//! lacks a VM's storage, with why; a container made with the Create CT wizard: Add to HA
//! from the guest view (HA starts it), its requested state set from the Datacenter's HA tab (HA stops
//! it), a bad service id refused in the dialog, Remove from HA; the HA rules listed; a
//! node's maintenance on and off; the cluster log as `brigade log` has it. An Auditor
//! sees all of it, every changing button added for it is disabled with the privilege
//! lacking, and requests forged from the page are refused with nothing changed.

use std::time::Duration;

use brigade_api::ha_rules::RuleRequest;
use brigade_api::storage::StorageAddRequest;
use brigade_e2e::guests::{add_shared_storage, appliance, guest_pid};
use brigade_e2e::{cluster, eventually};
use brigade_node::config::RaftTuning;
use brigade_node::ha::ops::ResourceRequest;
use serde_json::{json, Value};

use super::browser::Browser;
use super::{
    click_enabled, fact, login_with_password, login_with_token, user_with_role, ADMIN_PASSWORD,
    PAGE_TIMEOUT,
};

const SUBNET: u8 = 172;
/// The container the Create CT wizard makes (the first free VMID of a new cluster).
const CTID: u32 = 100;
const SID: &str = "ct:100";
/// A stopped VM whose disk is on a storage only n1 and n2 have.
const PINNED_VM: u32 = 300;
/// How long HA may take to start or stop the container.
const HA_TIMEOUT: Duration = Duration::from_secs(60);
/// A user with PVEAuditor on `/`.
const AUDITOR: &str = "dave@pve";

/// HA's view of ct:100 as the API has it: (state, request), None when not managed.
async fn ha_service(c: &brigade_client::Client) -> Option<(String, String)> {
    let s = c.ha_status().await.expect("ha status");
    s.services
        .iter()
        .find(|x| x.sid == SID)
        .map(|x| (x.state.clone(), x.request.clone()))
}

/// `[action, disabled, title]` of every `button[data-action]` matching `css`.
pub(super) async fn buttons(b: &Browser, css: &str) -> Value {
    b.eval(
        "return Array.from(document.querySelectorAll(arguments[0])).map((x) => [x.dataset.action, x.disabled, x.title]);",
        json!(css),
    )
    .await
}

/// Every button listed is disabled with a title naming `privilege`.
pub(super) fn all_disabled_for(v: &Value, privilege: &str) -> bool {
    v.as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter().all(|x| {
                x[1] == true
                    && x[2]
                        .as_str()
                        .is_some_and(|t| t.contains(&format!("you lack {privilege}")))
            })
    })
}

/// A request forged from the page with its session (the CSRF token too); the status.
pub(super) async fn forged(b: &Browser, method: &str, path: &str, body: Value) -> Value {
    b.eval(
        "const a = arguments[0]; const s = JSON.parse(sessionStorage.getItem('brigade.session')); const init = { method: a.method, headers: { 'Content-Type': 'application/json', CSRFPreventionToken: s.csrf } }; if (a.body !== 'null') init.body = a.body; return fetch('/api2/json' + a.path, init).then((r) => r.status);",
        json!({ "method": method, "path": path, "body": body.to_string() }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn ha_maintenance_and_the_cluster_log_in_the_page_and_an_auditor_changes_nothing() {
    let appliance = appliance();
    let c = cluster("webui-ha", SUBNET, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    let token = c.root_token.clone().expect("root token");
    let url = format!("{}/", c.nodes[0].config.api_url().trim_end_matches('/'));
    // On shared storage: HA refuses a guest a survivor could not start.
    add_shared_storage(&c, &n1).await;
    let template = appliance.join("rootfs").display().to_string();
    let b = Browser::start(&c.dir).await;
    login_with_token(&b, &url, &token).await;

    // The migrate dialog refuses a target that lacks the guest's storage, and says why.
    let only = c.dir.join("only12");
    std::fs::create_dir_all(&only).expect("dir");
    n1.storage_add(&StorageAddRequest {
        storage: "only12".into(),
        kind: "dir".into(),
        path: only.display().to_string(),
        content: Some("images".into()),
        shared: true,
        nodes: Some("n1,n2".into()),
    })
    .await
    .expect("add storage only12");
    let params = brigade_guest::vm_config::appliance_params(
        appliance.to_str().expect("utf-8"),
        64,
        Some("only12:1"),
    );
    n1.guest_create(
        "n1",
        brigade_core::layout::GuestKind::Qemu,
        PINNED_VM,
        &params,
        None,
        false,
    )
    .await
    .expect("create the VM on only12");
    b.click(
        &format!("li[data-tree=guest][data-id='{PINNED_VM}'] > a"),
        PAGE_TIMEOUT,
    )
    .await;
    b.click("[data-action=migrate]", PAGE_TIMEOUT).await;
    let options = b
        .wait_value("n3 refused for its storage in the migrate dialog", PAGE_TIMEOUT, || async {
            b.eval(
                "return Array.from(document.querySelectorAll('#migrate-target option')).map((o) => [o.value, o.disabled, o.dataset.refused || null]);",
                Value::Null,
            )
            .await
        }, |v| v.as_array().is_some_and(|a| a.len() == 2 && a[1][1] == true))
        .await;
    assert_eq!(
        options,
        json!([
            ["n2", false, null],
            ["n3", true, "its storage only12 is not on n3"]
        ])
    );
    b.screenshot("migrate-target-refused").await;
    b.click("[data-action=migrate-cancel]", PAGE_TIMEOUT).await;

    // The Create CT wizard: the suggested VMID, the template, a disk on shared storage.
    b.click("[data-action=create-ct]", PAGE_TIMEOUT).await;
    b.wait_value(
        "the CT wizard's suggested VMID",
        PAGE_TIMEOUT,
        || async {
            b.eval(
                "const v = document.querySelector('#wizard-vmid'); return v ? v.value : null;",
                Value::Null,
            )
            .await
        },
        |v| *v == json!(CTID.to_string()),
    )
    .await;
    b.type_into("#wizard-name", "haweb").await;
    b.click("[data-action=wizard-next]", PAGE_TIMEOUT).await;
    b.type_into("#wizard-ostemplate", &template).await;
    b.click("[data-action=wizard-next]", PAGE_TIMEOUT).await;
    b.click("#wizard-storage option[value=shared]", PAGE_TIMEOUT)
        .await;
    b.type_into("#wizard-size", "1").await;
    b.click("[data-step=memory]", PAGE_TIMEOUT).await;
    b.type_into("#wizard-memory", "64").await;
    b.click("[data-step=confirm]", PAGE_TIMEOUT).await;
    b.click("[data-action=wizard-finish]", PAGE_TIMEOUT).await;
    b.wait_text(
        "the new container's view",
        "[data-role=title]",
        PAGE_TIMEOUT,
        |t| t == format!("CT {CTID} (haweb) on node n1"),
    )
    .await;
    let made = n1
        .guest_config(&n1.locate(CTID).await.expect("locate"))
        .await
        .expect("config");
    assert!(
        made.config
            .iter()
            .any(|(k, v)| k == "rootfs" && v.starts_with("shared:")),
        "{:?}",
        made.config
    );

    // Add to HA from the guest view: HA starts it.
    b.click("li[data-tree=guest][data-id='100'] > a", PAGE_TIMEOUT)
        .await;
    click_enabled(&b, "[data-action=ha-guest-add]").await;
    b.wait_text(
        "ct:100 started by HA in the guest's HA card",
        "[data-role=guest-ha] [data-fact=ha-state] td",
        HA_TIMEOUT,
        |t| t == "started",
    )
    .await;
    assert_eq!(
        ha_service(&n1).await,
        Some(("started".into(), "started".into()))
    );
    eventually(HA_TIMEOUT, "HA runs the container on n1", || async {
        guest_pid(&c, 0, CTID).is_some()
    })
    .await;
    b.screenshot("ha-added").await;

    // The Datacenter's HA tab: its row; Edit sets the requested state to stopped.
    b.click("li[data-tree=dc] > a", PAGE_TIMEOUT).await;
    b.click("[data-role=tabs] [data-tab=ha]", PAGE_TIMEOUT)
        .await;
    click_enabled(
        &b,
        "[data-role=ha-services] tr[data-sid='ct:100'] [data-action=ha-edit]",
    )
    .await;
    b.click("#ha-state option[value=stopped]", PAGE_TIMEOUT)
        .await;
    b.click("[data-action=ha-submit]", PAGE_TIMEOUT).await;
    b.wait_text(
        "ct:100 requested stopped in the HA tab",
        "[data-role=ha-services] tr[data-sid='ct:100']",
        HA_TIMEOUT,
        |t| t.contains("stopped"),
    )
    .await;
    eventually(HA_TIMEOUT, "HA stops the container", || async {
        guest_pid(&c, 0, CTID).is_none()
    })
    .await;
    assert_eq!(ha_service(&n1).await.map(|s| s.1), Some("stopped".into()));
    // A bad service id is refused in the dialog; nothing is added.
    click_enabled(&b, "[data-action=ha-add]").await;
    b.type_into("#ha-sid", "bogus").await;
    b.click("[data-action=ha-submit]", PAGE_TIMEOUT).await;
    let refused = b
        .wait_text(
            "the refusal of a bad service id",
            "[data-role=ha-message]",
            PAGE_TIMEOUT,
            |t| t.contains("failed"),
        )
        .await;
    eprintln!("the HA dialog's refusal: {refused}");
    b.screenshot("ha-bad-sid").await;
    b.click("[data-action=ha-cancel]", PAGE_TIMEOUT).await;
    assert_eq!(n1.ha_status().await.expect("ha").services.len(), 1);
    // The rules, as the API lists them.
    n1.ha_rule_add(&RuleRequest {
        rule: Some("prefer-n1".into()),
        kind: Some("node-affinity".into()),
        resources: Some(SID.into()),
        nodes: Some("n1:2,n2:1".into()),
        ..RuleRequest::default()
    })
    .await
    .expect("add a rule");
    b.wait_text(
        "the rule in the HA tab",
        "[data-role=ha-rules] tr[data-rule=prefer-n1]",
        PAGE_TIMEOUT,
        |t| t.contains("node-affinity") && t.contains("ct:100") && t.contains("enabled"),
    )
    .await;
    b.screenshot("ha-tab").await;

    // Remove from HA, from the guest view.
    b.click("li[data-tree=guest][data-id='100'] > a", PAGE_TIMEOUT)
        .await;
    click_enabled(&b, "[data-action=ha-guest-remove]").await;
    b.wait_text(
        "ct:100 no longer under HA",
        "[data-role=guest-ha]",
        PAGE_TIMEOUT,
        |t| t.contains("not managed by HA"),
    )
    .await;
    assert_eq!(ha_service(&n1).await, None);

    // A node's maintenance on and off (root@pam's).
    b.click("li[data-tree=node][data-id=n3] > a", PAGE_TIMEOUT)
        .await;
    click_enabled(&b, "[data-action=maintenance-enable]").await;
    b.wait_value(
        "n3 in maintenance",
        PAGE_TIMEOUT,
        || async { Value::from(fact(&b, "maintenance").await) },
        |v| *v == "on",
    )
    .await;
    click_enabled(&b, "[data-action=maintenance-disable]").await;
    b.wait_value(
        "n3 out of maintenance",
        PAGE_TIMEOUT,
        || async { Value::from(fact(&b, "maintenance").await) },
        |v| *v == "off",
    )
    .await;

    // The cluster log, as `brigade log` has it, newest first.
    b.click("li[data-tree=dc] > a", PAGE_TIMEOUT).await;
    b.click("[data-role=tabs] [data-tab=log]", PAGE_TIMEOUT)
        .await;
    let log_rows = || async {
        b.eval(
            "return Array.from(document.querySelectorAll('[data-role=cluster-log] tbody tr')).map((r) => [r.dataset.kind, r.dataset.node, r.cells[3].innerText]);",
            Value::Null,
        )
        .await
    };
    let events = n1.cluster_log(Some(200)).await.expect("cluster log");
    assert!(
        events.iter().filter(|e| e.kind == "joined").count() >= 2,
        "the joins of n2 and n3 are not in the log: {events:?}"
    );
    let shown = b
        .wait_value("the cluster log's events", PAGE_TIMEOUT, log_rows, |v| {
            v.as_array().is_some_and(|a| a.len() >= events.len())
        })
        .await;
    let newest = events.last().expect("an event");
    assert_eq!(
        shown[0],
        json!([newest.kind, newest.node, newest.msg]),
        "the newest event is not first"
    );
    b.screenshot("cluster-log").await;

    // An Auditor: sees it all, every changing button is disabled with the reason.
    n1.ha_add(&ResourceRequest {
        sid: Some(SID.into()),
        state: Some("stopped".into()),
        ..ResourceRequest::default()
    })
    .await
    .expect("ha add");
    user_with_role(&n1, AUDITOR, "PVEAuditor").await;
    b.click("[data-action=logout]", PAGE_TIMEOUT).await;
    login_with_password(&b, &url, AUDITOR, ADMIN_PASSWORD).await;
    let create = b
        .wait_value(
            "Create VM/CT disabled for the Auditor",
            PAGE_TIMEOUT,
            || async { buttons(&b, "[data-action^=create-]").await },
            |v| all_disabled_for(v, "VM.Allocate"),
        )
        .await;
    eprintln!("the Auditor's create buttons: {create}");
    b.click("li[data-tree=dc] > a", PAGE_TIMEOUT).await;
    b.click("[data-role=tabs] [data-tab=ha]", PAGE_TIMEOUT)
        .await;
    b.wait_value(
        "the HA tab's Add and Edit disabled for the Auditor",
        PAGE_TIMEOUT,
        || async { buttons(&b, "[data-role=panel] [data-action^=ha-]").await },
        |v| v.as_array().is_some_and(|a| a.len() == 2) && all_disabled_for(v, "Sys.Console"),
    )
    .await;
    b.wait_value(
        "the rules listed for the Auditor",
        PAGE_TIMEOUT,
        || async { Value::from(b.text("[data-role=ha-rules] tr[data-rule=prefer-n1]").await) },
        |v| v.as_str().is_some_and(|t| t.contains("node-affinity")),
    )
    .await;
    b.click("[data-role=tabs] [data-tab=log]", PAGE_TIMEOUT)
        .await;
    b.wait_value(
        "the cluster log for the Auditor",
        PAGE_TIMEOUT,
        log_rows,
        |v| v.as_array().is_some_and(|a| a.len() >= events.len()),
    )
    .await;
    b.click("li[data-tree=guest][data-id='100'] > a", PAGE_TIMEOUT)
        .await;
    b.wait_value(
        "the guest's HA button disabled",
        PAGE_TIMEOUT,
        || async { buttons(&b, "[data-role=guest-ha] button").await },
        |v| all_disabled_for(v, "Sys.Console"),
    )
    .await;
    b.wait_value(
        "the guest's power buttons disabled",
        PAGE_TIMEOUT,
        || async { buttons(&b, "[data-role=guest-actions] button").await },
        |v| all_disabled_for(v, "VM."),
    )
    .await;
    b.click("[data-role=tabs] [data-tab=config]", PAGE_TIMEOUT)
        .await;
    b.wait_value(
        "the config's Edit disabled",
        PAGE_TIMEOUT,
        || async { buttons(&b, "[data-action=config-edit]").await },
        |v| all_disabled_for(v, "VM.Config"),
    )
    .await;
    b.screenshot("auditor-config").await;
    b.click("[data-role=tabs] [data-tab=backup]", PAGE_TIMEOUT)
        .await;
    b.wait_value(
        "Backup now disabled",
        PAGE_TIMEOUT,
        || async { buttons(&b, "[data-action=backup-now]").await },
        |v| all_disabled_for(v, "VM.Backup"),
    )
    .await;

    // Requests forged from the Auditor's page are refused; nothing changes.
    let loc = n1.locate(CTID).await.expect("locate");
    let before = n1.guest_config(&loc).await.expect("config");
    let ha_before = ha_service(&n1).await;
    let forgeries = [
        (
            "POST",
            "/cluster/ha/resources".to_string(),
            json!({ "sid": "vm:300" }),
        ),
        (
            "PUT",
            format!("/cluster/ha/resources/{SID}"),
            json!({ "state": "started" }),
        ),
        (
            "DELETE",
            format!("/cluster/ha/resources/{SID}"),
            Value::Null,
        ),
        (
            "PUT",
            format!("/nodes/n1/lxc/{CTID}/config"),
            json!({ "set": { "memory": "256" } }),
        ),
        (
            "POST",
            "/nodes/n1/lxc".to_string(),
            json!({ "vmid": 201, "config": { "rootfs": "local:1" }, "ostemplate": template }),
        ),
    ];
    for (method, path, body) in forgeries {
        let status = forged(&b, method, &path, body).await;
        assert_eq!(
            status, 403,
            "the Auditor's forged {method} {path} was not refused"
        );
    }
    assert_eq!(forged(&b, "GET", "/cluster/nextid", Value::Null).await, 200);
    let after = n1.guest_config(&loc).await.expect("config");
    assert_eq!(
        after.digest, before.digest,
        "a forged edit changed the config"
    );
    assert_eq!(
        ha_service(&n1).await,
        ha_before,
        "a forged HA change applied"
    );
    assert!(n1.locate(201).await.is_err(), "a forged create made CT 201");
    b.quit().await;
}
