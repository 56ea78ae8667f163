//! Daily work through the page (issue 17) on a real 3-node cluster: a password login (a
//! wrong one refused), three nodes quorate, an appliance VM made with the Create VM
//! wizard (a bad memory value shown next to its field first, nothing created) and
//! started, its console ticking in the page, a live migration through the dialog with
//! QEMU's progress and then the measured downtime, the VM on the other node with its ticks
//! going on, and a config edit with a bad value shown next to the field with the config
//! unchanged (same digest), then a good one applied; a live backup from its Backup tab,
//! restored as a new VM on n3.

use std::time::Duration;

use brigade_e2e::cluster;
use brigade_e2e::guests::{add_backup_storage, add_shared_storage, appliance, vm_ticks};
use brigade_node::config::RaftTuning;
use serde_json::{json, Value};

use super::browser::Browser;
use super::{
    click_enabled, login_with_password, tree_nodes, user_with_role, ADMIN, ADMIN_PASSWORD,
    PAGE_TIMEOUT, TREE_SCRIPT,
};

const SUBNET: u8 = 171;
/// Live migration slowed to 8 MiB/s (datacenter.cfg's bwlimit, KiB/s), so that it runs
/// long enough for the dialog to show QEMU's progress.
const DATACENTER: &str = "migration: secure\nbwlimit: migration=8192\n";
/// How long the VM may take to boot and tick, seen through the page.
const BOOT: Duration = Duration::from_secs(60);
/// How long the slowed live migration may take.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(120);
/// The VM's memory (MiB) and a value the API refuses (over the maximum).
const MEMORY: &str = "128";
const BAD_MEMORY: &str = "99999999";
/// How long a backup or a restore of the VM's small disk may take.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(120);

/// The migration dialog's progress view.
const PROGRESS_SCRIPT: &str = r"
const v = document.querySelector('[data-role=migrate-progress]');
if (!v) return null;
const f = (k) => { const e = v.querySelector(`[data-fact=${k}] td`); return e ? e.innerText.trim() : null; };
return { state: v.dataset.state, transferred: Number(v.dataset.transferred || 0), qemu: f('qemu-status'),
  remaining: f('remaining'), speed: f('speed'), expected: f('expected-downtime'),
  downtime: f('downtime'), total: f('total-time'), error: f('error') };";

/// The guest under `on` in the tree, the three nodes online.
fn vm_under(v: &Value, on: &str, label: &str) -> bool {
    let nodes = tree_nodes(v);
    nodes.len() == 3
        && nodes.iter().all(|n| n.1 == "online")
        && nodes
            .iter()
            .all(|(name, _, guests)| guests.iter().any(|g| g == label) == (name == on))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vm_made_with_the_wizard_ticks_migrates_live_with_progress_and_refuses_a_bad_edit() {
    let appliance = appliance();
    let c = cluster("webui-wizard", SUBNET, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("client");
    n1.fs_put("datacenter.cfg", DATACENTER)
        .await
        .expect("datacenter.cfg");
    add_shared_storage(&c, &n1).await;
    add_backup_storage(&c);
    user_with_role(&n1, ADMIN, "Administrator").await;
    let url = format!("{}/", c.nodes[0].config.api_url().trim_end_matches('/'));
    let suggested = n1.next_id(None).await.expect("nextid").vmid;
    let vmid = suggested;

    let b = Browser::start(&c.dir).await;
    login_with_password(&b, &url, ADMIN, ADMIN_PASSWORD).await;
    let tree = || async { b.eval(TREE_SCRIPT, Value::Null).await };
    b.wait_value("three online nodes", PAGE_TIMEOUT, tree, |v| {
        let n = tree_nodes(v);
        n.len() == 3 && n.iter().all(|x| x.1 == "online")
    })
    .await;
    b.wait_text(
        "the Datacenter summary: quorate",
        "[data-role=panel] [data-fact=quorate] td",
        PAGE_TIMEOUT,
        |t| t == "Yes",
    )
    .await;

    // The wizard: the node is chosen from the live ones, the VMID is the next free one.
    b.click("[data-action=create-vm]", PAGE_TIMEOUT).await;
    let general = b
        .wait_value(
            "the wizard's General step with the suggested VMID",
            PAGE_TIMEOUT,
            || async {
                b.eval(
                    "const v = document.querySelector('#wizard-vmid'); const n = document.querySelector('#wizard-node'); return v && v.value ? { vmid: v.value, node: n.value, nodes: Array.from(n.options).map((o) => [o.value, o.disabled]) } : null;",
                    Value::Null,
                )
                .await
            },
            |v| !v.is_null(),
        )
        .await;
    assert_eq!(general["vmid"], json!(suggested.to_string()), "{general}");
    assert_eq!(
        general["node"], "n1",
        "the page's own node first: {general}"
    );
    assert_eq!(
        general["nodes"],
        json!([["n1", false], ["n2", false], ["n3", false]])
    );
    b.type_into("#wizard-name", "ticker").await;
    b.click("[data-action=wizard-next]", PAGE_TIMEOUT).await;
    let dir = appliance.display().to_string();
    b.type_into("#wizard-kernel", &format!("{dir}/vmlinuz"))
        .await;
    b.type_into("#wizard-initrd", &format!("{dir}/initramfs.img"))
        .await;
    b.click("[data-action=wizard-next]", PAGE_TIMEOUT).await;
    // Disks: the storages that hold images on n1.
    let storages = b
        .eval(
            "return Array.from(document.querySelectorAll('#wizard-storage option')).map((o) => o.value);",
            Value::Null,
        )
        .await;
    assert!(
        storages
            .as_array()
            .is_some_and(|s| s.contains(&json!("shared"))),
        "the disk storages offered: {storages}"
    );
    b.click("#wizard-storage option[value=shared]", PAGE_TIMEOUT)
        .await;
    b.type_into("#wizard-size", "1").await;
    b.click("[data-step=memory]", PAGE_TIMEOUT).await;
    b.type_into("#wizard-memory", BAD_MEMORY).await;
    b.click("[data-step=confirm]", PAGE_TIMEOUT).await;
    let shown = b
        .text("[data-role=wizard-config]")
        .await
        .unwrap_or_default();
    assert!(
        shown.contains("scsi0\tshared:1") && shown.contains(&format!("memory\t{BAD_MEMORY}")),
        "the Confirm step does not show the config: {shown}"
    );
    b.click("#wizard-start", PAGE_TIMEOUT).await;
    b.screenshot("wizard-confirm").await;
    b.click("[data-action=wizard-finish]", PAGE_TIMEOUT).await;
    // The API's refusal goes next to the memory field, on its step; nothing is created.
    let err = b
        .wait_text(
            "the API's error next to the memory field",
            "[data-field-error=memory]",
            PAGE_TIMEOUT,
            |t| !t.is_empty(),
        )
        .await;
    assert!(err.contains("memory:"), "{err}");
    let page = b
        .eval(
            "return document.querySelector('[data-step-page=memory]').classList.contains('hidden');",
            Value::Null,
        )
        .await;
    assert_eq!(page, false, "the wizard did not go to the Memory step");
    b.screenshot("wizard-field-error").await;
    assert!(
        n1.locate(vmid).await.is_err(),
        "a refused create made VM {vmid}"
    );
    b.type_into("#wizard-memory", MEMORY).await;
    b.click("[data-step=confirm]", PAGE_TIMEOUT).await;
    b.click("[data-action=wizard-finish]", PAGE_TIMEOUT).await;
    let label = format!("{vmid} (ticker)");
    b.wait_value("the new VM under n1 in the tree", BOOT, tree, |v| {
        vm_under(v, "n1", &label)
    })
    .await;
    b.wait_text(
        "the new VM's view, running",
        "[data-role=panel] [data-fact=status] td",
        BOOT,
        |t| t == "running",
    )
    .await;
    assert_eq!(
        b.text("[data-role=title]").await.as_deref(),
        Some(format!("VM {vmid} (ticker) on node n1").as_str())
    );
    let cfg = n1
        .guest_config(&n1.locate(vmid).await.expect("locate"))
        .await
        .expect("config");
    // GET /cluster/nextid now: the next one; asked about a VMID, that one if free.
    assert_eq!(n1.next_id(None).await.expect("nextid").vmid, vmid + 1);
    let taken = n1.next_id(Some(vmid)).await.expect_err("a taken VMID");
    assert_eq!(taken.status(), Some(409), "{taken}");
    assert_eq!(
        n1.next_id(Some(vmid + 50)).await.expect("a free VMID").vmid,
        vmid + 50
    );
    let keys: Vec<&str> = cfg.config.iter().map(|(k, _)| k.as_str()).collect();
    for k in [
        "name", "kernel", "initrd", "append", "scsi0", "memory", "cores",
    ] {
        assert!(
            keys.contains(&k),
            "{k} missing from the created config: {keys:?}"
        );
    }

    // Its console, ticking in the page.
    b.click("[data-role=tabs] [data-tab=console]", PAGE_TIMEOUT)
        .await;
    let first = b
        .wait_text(
            "the VM's ticks in the Console tab",
            "[data-role=console-log]",
            BOOT,
            |t| brigade_e2e::guests::ticks(t).len() >= 2,
        )
        .await;
    let before = brigade_e2e::guests::ticks(&first)
        .last()
        .copied()
        .unwrap_or_default();
    b.wait_text(
        "a later tick in the Console tab",
        "[data-role=console-log]",
        PAGE_TIMEOUT,
        |t| {
            brigade_e2e::guests::ticks(t)
                .last()
                .is_some_and(|n| *n > before)
        },
    )
    .await;
    b.screenshot("wizard-vm-console").await;

    // Migrate it live to n2 through the dialog: QEMU's progress, then the downtime.
    b.click("[data-role=tabs] [data-tab=summary]", PAGE_TIMEOUT)
        .await;
    b.click("[data-action=migrate]", PAGE_TIMEOUT).await;
    let online = b
        .eval(
            "return document.querySelector('#migrate-online').checked;",
            Value::Null,
        )
        .await;
    assert_eq!(online, true, "a running VM is not offered a live migration");
    b.click("#migrate-target option[value=n2]", PAGE_TIMEOUT)
        .await;
    b.click("[data-action=migrate-submit]", PAGE_TIMEOUT).await;
    let progress = || async { b.eval(PROGRESS_SCRIPT, Value::Null).await };
    let active = b
        .wait_value(
            "QEMU's progress in the dialog",
            MIGRATE_TIMEOUT,
            progress,
            |v| {
                v["state"] == "running"
                    && v["qemu"] == "active"
                    && v["transferred"].as_u64() > Some(0)
            },
        )
        .await;
    eprintln!("the dialog during the migration: {active}");
    for k in ["remaining", "speed", "expected"] {
        assert!(
            active[k]
                .as_str()
                .is_some_and(|t| t != "-" && !t.is_empty()),
            "no {k} in the dialog: {active}"
        );
    }
    b.screenshot("migration-progress").await;
    let done = b
        .wait_value(
            "the migration done, with its downtime",
            MIGRATE_TIMEOUT,
            progress,
            |v| v["state"] != "running",
        )
        .await;
    eprintln!("the dialog after the migration: {done}");
    assert_eq!(done["state"], "ok", "the migration failed: {done}");
    assert!(
        done["downtime"]
            .as_str()
            .is_some_and(|t| t.ends_with(" ms") || t.ends_with(" s")),
        "no downtime in the dialog: {done}"
    );
    assert!(done["total"].as_str().is_some_and(|t| t != "-"), "{done}");
    b.screenshot("migration-done").await;
    b.click("[data-action=migrate-close]", PAGE_TIMEOUT).await;
    b.wait_value("the VM under n2 in the tree", PAGE_TIMEOUT, tree, |v| {
        vm_under(v, "n2", &label)
    })
    .await;
    b.wait_text(
        "the guest view saying n2",
        "[data-role=title]",
        PAGE_TIMEOUT,
        |t| t == format!("VM {vmid} (ticker) on node n2"),
    )
    .await;
    assert_eq!(n1.locate(vmid).await.expect("locate").node, "n2");
    // Its ticks go on from where they were, on n2, and in the page.
    let last_on_n1 = vm_ticks(&c, 0, vmid)
        .last()
        .copied()
        .unwrap_or_default()
        .max(before);
    brigade_e2e::eventually(
        BOOT,
        "the VM ticks on n2 past its last tick on n1",
        || async {
            vm_ticks(&c, 1, vmid)
                .last()
                .is_some_and(|t| *t > last_on_n1)
        },
    )
    .await;
    b.click("[data-role=tabs] [data-tab=console]", PAGE_TIMEOUT)
        .await;
    b.wait_text(
        "ticks past the migration in the Console tab (the VM on n2)",
        "[data-role=console-log]",
        PAGE_TIMEOUT,
        |t| {
            brigade_e2e::guests::ticks(t)
                .last()
                .is_some_and(|n| *n > last_on_n1)
        },
    )
    .await;
    b.screenshot("migrated-console").await;

    // A config edit with a bad value: the API's error next to the field, nothing changed.
    let loc = n1.locate(vmid).await.expect("locate");
    let before = n1.guest_config(&loc).await.expect("config");
    b.click("[data-role=tabs] [data-tab=config]", PAGE_TIMEOUT)
        .await;
    b.click("[data-action=config-edit]", PAGE_TIMEOUT).await;
    b.type_into("[data-role=config-dialog] [data-field=memory]", BAD_MEMORY)
        .await;
    b.type_into("[data-role=config-dialog] [data-field=name]", "ticker-two")
        .await;
    b.click("[data-action=config-submit]", PAGE_TIMEOUT).await;
    let err = b
        .wait_text(
            "the API's error next to the memory field of the edit",
            "[data-role=config-dialog] [data-field-error=memory]",
            PAGE_TIMEOUT,
            |t| !t.is_empty(),
        )
        .await;
    assert!(err.contains("memory:"), "{err}");
    let message = b
        .text("[data-role=config-message]")
        .await
        .unwrap_or_default();
    assert!(message.contains("nothing was changed"), "{message}");
    b.screenshot("config-field-error").await;
    let after = n1.guest_config(&loc).await.expect("config");
    assert_eq!(
        after.digest, before.digest,
        "a refused edit changed the config"
    );
    assert_eq!(after.text, before.text);
    // Corrected, the edit applies: the new name in the config and the tree.
    b.type_into("[data-role=config-dialog] [data-field=memory]", MEMORY)
        .await;
    b.click("[data-action=config-submit]", PAGE_TIMEOUT).await;
    b.wait_value("the renamed VM in the tree", PAGE_TIMEOUT, tree, |v| {
        vm_under(v, "n2", &format!("{vmid} (ticker-two)"))
    })
    .await;
    let applied = n1.guest_config(&loc).await.expect("config");
    assert_ne!(applied.digest, before.digest);
    assert!(
        applied
            .config
            .iter()
            .any(|(k, v)| k == "name" && v == "ticker-two"),
        "{:?}",
        applied.config
    );
    b.wait_value(
        "the new digest on the Hardware tab",
        PAGE_TIMEOUT,
        || async {
            b.eval(
                "const e = document.querySelector('[data-role=config-digest]'); return e ? e.dataset.digest : null;",
                Value::Null,
            )
            .await
        },
        |v| *v == json!(applied.digest.to_string()),
    )
    .await;

    // The Backup tab: a live backup now (the VM keeps running), restored as a new VM on n3.
    b.click("[data-role=tabs] [data-tab=backup]", PAGE_TIMEOUT)
        .await;
    click_enabled(&b, "[data-action=backup-now]").await;
    b.click("#backup-mode option[value=snapshot]", PAGE_TIMEOUT)
        .await;
    b.click("[data-action=backup-submit]", PAGE_TIMEOUT).await;
    let task_state = |role: &'static str| {
        let b = &b;
        move || async move {
            b.eval(
                "const e = document.querySelector(`[data-role=${arguments[0]}-task]`); return e ? (e.dataset.state || null) : null;",
                json!(role),
            )
            .await
        }
    };
    let backed = b
        .wait_value(
            "the backup task ended in its dialog",
            BACKUP_TIMEOUT,
            task_state("backup"),
            |v| v.as_str().is_some_and(|s| s != "running"),
        )
        .await;
    b.screenshot("backup-done").await;
    assert_eq!(
        backed,
        "ok",
        "{:?}",
        b.text("[data-role=backup-message]").await
    );
    b.click("[data-action=backup-close]", PAGE_TIMEOUT).await;
    assert_eq!(
        n1.guest_status(&loc)
            .await
            .expect("status")
            .qmp_status
            .as_deref(),
        Some("running"),
        "a snapshot backup left the VM not running"
    );
    let backups = n1
        .backup_list("n2", "backups", Some(vmid))
        .await
        .expect("backups");
    assert_eq!(backups.len(), 1, "{backups:?}");
    let volid = backups[0].volid.clone();
    let row = format!("[data-role=backups] tr[data-volid=\"{volid}\"]");
    b.wait_text("the backup in the Backup tab", &row, PAGE_TIMEOUT, |t| {
        t.contains("snapshot")
    })
    .await;
    click_enabled(&b, &format!("{row} [data-action=backup-restore]")).await;
    let new_id = n1.next_id(None).await.expect("nextid").vmid;
    b.wait_value(
        "the restore's suggested VMID",
        PAGE_TIMEOUT,
        || async {
            b.eval(
                "return document.querySelector('#restore-vmid').value;",
                Value::Null,
            )
            .await
        },
        |v| *v == json!(new_id.to_string()),
    )
    .await;
    b.click("#restore-node option[value=n3]", PAGE_TIMEOUT)
        .await;
    b.click("[data-action=restore-submit]", PAGE_TIMEOUT).await;
    let restored = b
        .wait_value(
            "the restore task ended in its dialog",
            BACKUP_TIMEOUT,
            task_state("restore"),
            |v| v.as_str().is_some_and(|s| s != "running"),
        )
        .await;
    b.screenshot("restore-done").await;
    assert_eq!(
        restored,
        "ok",
        "{:?}",
        b.text("[data-role=restore-message]").await
    );
    assert_eq!(n1.locate(new_id).await.expect("the restored VM").node, "n3");
    b.click("[data-action=restore-close]", PAGE_TIMEOUT).await;
    b.wait_value(
        "the restored VM under n3 in the tree",
        PAGE_TIMEOUT,
        tree,
        |v| {
            tree_nodes(v)
                .iter()
                .any(|(n, _, g)| n == "n3" && g.iter().any(|x| x.starts_with(&new_id.to_string())))
        },
    )
    .await;
    b.quit().await;
}
