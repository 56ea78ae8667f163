//! Every file kind brigade owns: a valid content passes, a broken one is refused with
//! the problem named; free-form files pass whatever they hold.

use std::path::PathBuf;

use super::*;

fn policy() -> HostPathPolicy {
    HostPathPolicy {
        node: "n1".into(),
        state_dir: PathBuf::from("/var/lib/brigade/n1"),
        appliance_dir: PathBuf::from("/var/cache/brigade/appliance"),
        storage: StorageConfig::parse(
            "dir: local\n\tpath {state_dir}/storage\n\tcontent images,rootdir\n",
        )
        .expect("storage.cfg"),
    }
}

fn ok(path: &str, data: &str) {
    if let Err(e) = validate_file(path, data.as_bytes(), &policy()) {
        panic!("{path} refused {data:?}: {e}");
    }
}

fn refused(path: &str, data: &[u8], needle: &str) {
    let e = validate_file(path, data, &policy())
        .expect_err(path)
        .to_string();
    assert!(e.contains(needle), "{path}: expected {needle:?} in: {e}");
}

fn cluster_conf() -> String {
    let first = brigade_core::cluster_conf::NodeEntry {
        name: "n1".parse().expect("name"),
        nodeid: 1,
        votes: 1,
        link0: "127.0.1.1".parse().expect("ip"),
        link1: None,
    };
    ClusterConf::new("lab", first).to_text()
}

#[test]
fn guest_configs() {
    ok("nodes/n1/qemu-server/101.conf", "memory: 256\n");
    ok("nodes/n1/qemu-server/101.conf", "");
    ok(
        "nodes/n1/qemu-server/101.conf",
        "kernel: /var/cache/brigade/appliance/vmlinuz\ninitrd: /var/lib/brigade/n1/storage/i.img\n",
    );
    refused(
        "nodes/n1/qemu-server/101.conf",
        b"bogus: 1\n",
        "unknown config key \"bogus\"",
    );
    refused("nodes/n1/qemu-server/101.conf", b"memory: 1\n", "memory");
    refused("nodes/n1/qemu-server/101.conf", b"memory 256\n", "line 1");
    refused(
        "nodes/n1/qemu-server/101.conf",
        b"memory: \xff\n",
        "not UTF-8",
    );
    refused(
        "nodes/n1/qemu-server/101.conf",
        b"kernel: /etc/shadow\n",
        "kernel: /etc/shadow is not an allowed host path",
    );
    refused(
        "nodes/n1/qemu-server/101.conf",
        b"kernel: /var/cache/brigade/appliance/vmlinuz\ninitrd: /etc/shadow\n",
        "initrd: /etc/shadow",
    );
    ok(
        "nodes/n2/lxc/102.conf",
        "rootfs: local:102/subvol-102-disk-0\nmemory: 64\n",
    );
    refused("nodes/n2/lxc/102.conf", b"memory: 64\n", "rootfs: missing");
    refused(
        "nodes/n2/lxc/102.conf",
        b"rootfs: local:x\nbogus: 1\n",
        "bogus",
    );
    // Not guest configs: free-form.
    ok("nodes/n1/qemu-server/notes.txt", "bogus: 1\n");
    ok("nodes/n1/qemu-server/sedXy12", "bogus: 1\n");
}

#[test]
fn cluster_files() {
    ok("cluster.conf", &cluster_conf());
    refused(
        "cluster.conf",
        b"cluster: lab\n\tbogus 1\n",
        "cluster.conf:",
    );
    refused("cluster.conf", b"nonsense", "cluster.conf:");
    ok("datacenter.cfg", "migration: secure\nha: fence_timeout=6\n");
    refused("datacenter.cfg", b"bogus: 1\n", "unknown key \"bogus\"");
    ok(
        "storage.cfg",
        "dir: shared\n\tpath /mnt/pve/nfs\n\tcontent images\n\tshared 1\n",
    );
    refused("storage.cfg", b"lvm: x\n\tpath /x\n", "not supported");
    refused("storage.cfg", b"dir: x\n\tpath relative\n", "absolute path");
    refused(
        "jobs.cfg",
        b"vzdump: j\n\tschedule someday\n",
        "line 2: invalid schedule",
    );
    validate_file(
        "jobs.cfg",
        b"vzdump: j\n\tschedule daily\n\tstorage b\n\tall 1\n",
        &policy(),
    )
    .expect("a good jobs.cfg");
}

#[test]
fn ha_files() {
    ok("ha/resources.cfg", "vm: 100\n\tstate started\n");
    refused(
        "ha/resources.cfg",
        b"vm: 100\n\tstate sideways\n",
        "sideways",
    );
    ok("ha/groups.cfg", "group: g1\n\tnodes n1:2,n2:1\n");
    refused(
        "ha/groups.cfg",
        b"group: g1\n\tnodes n1\n\trestricted 7\n",
        "restricted",
    );
    let status = serde_json::to_string(&ManagerStatus::default()).expect("json");
    ok("ha/manager_status", &status);
    refused(
        "ha/manager_status",
        b"{\"bogus\": 1",
        "ha/manager_status: not what brigade writes there",
    );
    let lrm = serde_json::to_string(&LrmStatus::default()).expect("json");
    ok("nodes/n2/lrm_status", &lrm);
    refused("nodes/n2/lrm_status", b"hello", "nodes/n2/lrm_status");
    ok("ha/maintenance", "n1\nn2 shutdown\n");
    refused("ha/maintenance", b"n1 later\n", "line 1");
    refused("ha/maintenance", b"N1\n", "line 1");
    ok("ha/crm_commands", "migrate vm:100 n2\nmigrate ct:102 n3\n");
    refused(
        "ha/crm_commands",
        b"migrate vm:100\n",
        "expected 'migrate SID NODE'",
    );
    refused("ha/crm_commands", b"migrate xx:100 n2\n", "line 1");
}

#[test]
fn private_and_log_files() {
    let t = crate::token::ApiToken::generate("root@pam!root");
    ok(
        "priv/token.cfg",
        &crate::token::tokens_cfg_add("", &t, "root").expect("cfg"),
    );
    refused(
        "priv/token.cfg",
        b"user: root\n\tcomment x\n",
        "must be 'token: ID'",
    );
    ok(
        "priv/join-tokens/ab12",
        "{\"hash\": \"00\", \"expires\": 5}",
    );
    refused("priv/join-tokens/ab12", b"{}", "priv/join-tokens/ab12");
    ok(
        "cluster.log",
        "{\"time\":1,\"node\":\"n1\",\"kind\":\"joined\",\"msg\":\"x\"}\n",
    );
    refused("cluster.log", b"hello\n", "line 1: not a log event");
    let ca = brigade_net::pki::generate_ca("lab").expect("ca");
    ok("brigade-root-ca.pem", &ca.cert_pem);
    refused(
        "brigade-root-ca.pem",
        b"not a certificate",
        "no PEM certificate",
    );
    ok("priv/brigade-root-ca.key", &ca.key_pem);
    refused(
        "priv/brigade-root-ca.key",
        b"nope",
        "priv/brigade-root-ca.key",
    );
    ok("priv/authkey", &"ab".repeat(32));
    refused("priv/authkey", b"short", "at least 32 bytes");
    // Files brigade does not parse are free-form.
    ok("notes/anything", "\u{1}binary-ish");
    ok("nodes/n1/custom.cfg", "whatever");
}

#[test]
fn kinds_by_path() {
    assert_eq!(
        file_kind("nodes/n1/lxc/101.conf"),
        Some(FileKind::Guest {
            kind: GuestKind::Lxc,
            node: "n1".into()
        })
    );
    assert_eq!(file_kind("nodes/n3/lrm_status"), Some(FileKind::LrmStatus));
    assert_eq!(file_kind("priv/join-tokens/ab"), Some(FileKind::JoinToken));
    assert_eq!(file_kind("nodes/n3/lrm_status/x"), None);
    assert_eq!(file_kind("ha/other"), None);
}

#[test]
fn ha_rules_and_node_usage() {
    ok(
        "ha/rules.cfg",
        "node-affinity: pin\n\tresources vm:100\n\tnodes n1:2,n2\n\tstrict 1\n\nresource-affinity: apart\n\tresources vm:100,vm:101\n\taffinity negative\n",
    );
    refused(
        "ha/rules.cfg",
        b"resource-affinity: apart\n\tresources vm:100,vm:101\n",
        "needs affinity",
    );
    refused(
        "ha/rules.cfg",
        b"node-affinity: pin\n\tnodes n1\n\tstrict 2\n",
        "strict",
    );
    ok(
        "nodes/n1/usage",
        r#"{"cpus":2.0,"memory_mib":4096,"live":{"cpu":0.5,"memory_mib":1500},"guests":{"vm:100":{"cpu":0.31,"memory_mib":140}}}"#,
    );
    refused(
        "nodes/n1/usage",
        b"{\"cpus\":\"many\"}",
        "not what brigade writes there",
    );
    ok("datacenter.cfg", "crs: ha=dynamic,ha-auto-rebalance=1\n");
    refused(
        "datacenter.cfg",
        b"crs: ha=static,ha-auto-rebalance-margin=5\n",
        "no effect without",
    );
}

#[test]
fn the_cluster_format_is_never_written_by_hand() {
    // Even a valid version: only the command that asks every member first may raise it.
    refused(
        crate::format_version::ACTIVE_FORMAT_TREE_PATH,
        b"2\n",
        "written only by 'brigade cluster format upgrade'",
    );
}

/// The access files: what the daemon writes passes; a broken one (it would lock users out)
/// is refused with its file and line named.
#[test]
fn access_files() {
    ok(
        files::USER_CFG,
        "user:root@pam:1:0:::root@example.com:::\nacl:1:/:root@pam:Administrator:\n",
    );
    ok(files::USER_CFG, "");
    refused(
        files::USER_CFG,
        b"user:root@pam:1:0:::\nbogus:x\n",
        "user.cfg line 2",
    );
    refused(
        files::USER_CFG,
        b"acl:1:/:nobody:NoSuchRole:\n",
        "user.cfg line 1",
    );
    refused(
        files::DOMAINS_CFG,
        b"pam: pam\n\tcomment x\nnot a section\n",
        "domains.cfg",
    );
    refused(files::SHADOW_CFG, b"alice@pve\n", "shadow.cfg line 1");
    refused(files::TFA_CFG, b"{not json", files::TFA_CFG);
    refused(files::TICKET_KEYS, b"short\n", files::TICKET_KEYS);
    assert_eq!(file_kind(files::USER_CFG), Some(FileKind::UserCfg));
    assert_eq!(file_kind(files::TICKET_KEYS), Some(FileKind::TicketKeys));
}

#[test]
fn sdn_files_are_parsed_and_the_running_config_validated() {
    ok("sdn/zones.cfg", "vxlan: ovl\n\tpeers 10.0.0.1,10.0.0.2\n");
    refused("sdn/zones.cfg", b"vxlan: ovl\n\tpeers 10.0.0.x\n", "peers");
    refused("sdn/zones.cfg", b"vxlan: ovl\n\tcolour red\n", "colour");
    ok("sdn/vnets.cfg", "vnet: web\n\tzone ovl\n\ttag 100\n");
    refused(
        "sdn/vnets.cfg",
        b"vnet: web\n\tzone ovl\n\ttag many\n",
        "tag",
    );
    ok("sdn/subnets.cfg", "subnet: ovl-10.5.0.0-24\n\tvnet web\n");
    refused(
        "sdn/subnets.cfg",
        b"subnet: ovl-10.5.0.0-24\n\tvnet web\n\tgateway x\n",
        "gateway",
    );
    ok(
        "nodes/n1/network.cfg",
        "auto vmbr0\niface vmbr0 inet static\n\tbridge-ports none\n",
    );
    refused(
        "nodes/n1/network.cfg",
        b"iface vmbr0 inet static\n\taddress nowhere\n\tbridge-ports none\n",
        "address",
    );
    let cfg = brigade_sdn::config::SdnConfig::parse(
        "vxlan: ovl\n\tpeers 10.0.0.1\n",
        "vnet: web\n\tzone ovl\n\ttag 100\n",
        "",
    )
    .expect("cfg");
    let good = crate::sdn::RunningConfig::of(&cfg);
    ok(
        "sdn/.running-config",
        &serde_json::to_string(&good).expect("json"),
    );
    let mut twice = good.clone();
    twice.vnets.push_str("\nvnet: db\n\tzone ovl\n\ttag 100\n");
    refused(
        "sdn/.running-config",
        serde_json::to_string(&twice).expect("json").as_bytes(),
        "VNI 100 is already used",
    );
    let mut tampered = good;
    tampered.version = "0".into();
    refused(
        "sdn/.running-config",
        serde_json::to_string(&tampered).expect("json").as_bytes(),
        "does not match",
    );
    refused("nodes/n1/sdn-status.json", b"{", "not what brigade writes");
}
