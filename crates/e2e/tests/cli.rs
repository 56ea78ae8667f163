//! The `brigade` binary end to end: node run, cluster create/join-token/join/nodes, fs write/cat/ls/mv, JSON output.

use brigade_e2e::{bin, brigade, test_dir};
use brigade_harness::ProcCluster;
use brigade_node::config::RaftTuning;

fn ok(cfg: &std::path::Path, args: &[&str]) -> String {
    let (success, stdout, stderr) = brigade(cfg, args);
    assert!(success, "brigade {args:?} failed: {stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_forms_a_cluster_and_edits_files() {
    let mut c = ProcCluster::new(&bin(), &test_dir("cli"), 17, RaftTuning::default());
    for _ in 0..3 {
        c.spawn_node().expect("spawn");
    }
    for i in 0..3 {
        c.wait_api(i).await.expect("api");
    }
    let cfg: Vec<_> = c.nodes.iter().map(|n| n.config_path.clone()).collect();

    let created: serde_json::Value =
        serde_json::from_str(&ok(&cfg[0], &["cluster", "create", "lab", "-o", "json"]))
            .expect("json");
    assert_eq!(created["cluster"], "lab");
    let root_token = created["root_token"].as_str().expect("token");
    let stored = std::fs::read_to_string(c.nodes[0].state_dir().join("priv/root.token"))
        .expect("stored token");
    assert_eq!(stored.trim(), root_token);
    c.root_token = Some(root_token.to_string());
    c.ca_pem =
        Some(std::fs::read_to_string(c.nodes[0].state_dir().join("tls/ca.pem")).expect("ca"));
    let mode = std::fs::metadata(c.nodes[0].state_dir().join("priv/root.token")).expect("meta");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    for i in 1..3 {
        let token = ok(&cfg[0], &["cluster", "join-token"]);
        let out = ok(
            &cfg[i],
            &[
                "cluster",
                "join",
                &c.nodes[0].addr.to_string(),
                "--token",
                token.trim(),
            ],
        );
        assert!(out.contains("Joined cluster lab"), "{out}");
    }
    let nodes: serde_json::Value =
        serde_json::from_str(&ok(&cfg[2], &["cluster", "nodes", "--output", "json"]))
            .expect("json");
    assert_eq!(nodes.as_array().map(|a| a.len()), Some(3));

    ok(
        &cfg[0],
        &[
            "fs",
            "write",
            "nodes/n1/qemu-server/100.conf",
            "memory: 256\n",
        ],
    );
    let cat = ok(
        &cfg[2],
        &["fs", "cat", "--consistent", "nodes/n1/qemu-server/100.conf"],
    );
    assert_eq!(cat, "memory: 256\n");
    ok(
        &cfg[1],
        &[
            "fs",
            "mv",
            "nodes/n1/qemu-server/100.conf",
            "nodes/n2/qemu-server/100.conf",
        ],
    );
    let ls: serde_json::Value = serde_json::from_str(&ok(
        &cfg[2],
        &["fs", "ls", "nodes/n2/qemu-server", "-o", "json"],
    ))
    .expect("json");
    assert_eq!(ls[0]["name"], "100.conf");

    let (success, _, stderr) = brigade(
        &cfg[0],
        &[
            "fs",
            "write",
            "nodes/n2/qemu-server/100.conf",
            "x",
            "--create-exclusive",
        ],
    );
    assert!(!success);
    assert!(stderr.contains("already exists"), "{stderr}");
    let (success, _, stderr) = brigade(&cfg[0], &["cluster", "create", "again"]);
    assert!(!success);
    assert!(stderr.contains("already in cluster"), "{stderr}");

    // The cluster log through the CLI: both joins are there.
    let log: serde_json::Value =
        serde_json::from_str(&ok(&cfg[2], &["log", "-o", "json"])).expect("json");
    let joined = log
        .as_array()
        .map(|a| a.iter().filter(|e| e["kind"] == "joined").count());
    assert_eq!(joined, Some(2), "{log}");

    // Prometheus metrics need the token like every call.
    let metrics = c.client(0).expect("n1").metrics().await.expect("metrics");
    for line in [
        "brigade_quorate 1",
        "brigade_in_cluster 1",
        "brigade_members 3",
        "brigade_heartbeats_total{outcome=\"bad_auth\"}",
        "brigade_cfs_write_seconds_bucket{le=\"+Inf\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing in:\n{metrics}");
    }
    let writes: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("brigade_cfs_write_seconds_count "))
        .and_then(|v| v.parse().ok())
        .expect("write count");
    assert!(writes >= 1, "the fs write through n1 was counted");
    let anonymous = brigade_client::Client::new(brigade_client::ClientOptions {
        url: c.nodes[0].config.api_url(),
        ca_pem: c.ca_pem.clone().unwrap_or_default(),
        token: None,
        local_addr: None,
        timeout: None,
    })
    .expect("client");
    assert_eq!(
        anonymous.metrics().await.expect_err("no token").status(),
        Some(401)
    );

    let status = ok(&cfg[1], &["cluster", "status"]);
    for section in [
        "Cluster information",
        "Quorum information",
        "Votequorum information",
        "Membership information",
        "Quorate:          Yes",
    ] {
        assert!(status.contains(section), "{status}");
    }
}
