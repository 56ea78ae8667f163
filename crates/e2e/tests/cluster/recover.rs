//! `cluster recover --force` on the last survivor after a permanent loss of the majority.

use std::process::Command;
use std::time::Duration;

use brigade_cfs::NOT_QUORATE_MSG;
use brigade_e2e::{bin, cluster, dump, eventually, write_retrying};
use brigade_node::config::RaftTuning;

#[tokio::test(flavor = "multi_thread")]
async fn survivor_recovers_alone_with_its_data() {
    let mut c = cluster("recover", 27, 3, RaftTuning::default()).await;
    let n1 = c.client(0).expect("n1");
    for k in 0..10 {
        n1.fs_put(&format!("keep/k{k}"), &format!("v{k}"))
            .await
            .expect("write");
    }
    let before = dump(&n1, "keep").await.expect("dump");
    c.kill(1);
    c.kill(2);
    eventually(Duration::from_secs(15), "n1 alone is not quorate", || {
        let n1 = n1.clone();
        async move { n1.status().await.is_ok_and(|s| !s.quorate) }
    })
    .await;
    let e = n1.fs_put("keep/lost", "x").await.expect_err("no quorum");
    assert_eq!(e.to_string(), NOT_QUORATE_MSG);

    // Refused while the daemon runs, and without --force.
    let cfg = c.nodes[0].config_path.clone();
    let run = |args: &[&str]| {
        Command::new(bin())
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .expect("run")
    };
    let out = run(&["cluster", "recover", "--force", "--yes"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stop it first"));
    c.stop(0).expect("stop n1");
    let out = run(&["cluster", "recover", "--yes"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("add --force"),
        "{out:?}"
    );
    let out = run(&["cluster", "recover", "--force", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("only voter"));

    c.start(0).expect("start n1");
    c.wait_api(0).await.expect("api");
    c.wait_quorate(&[0]).await.expect("n1 quorate alone");
    assert_eq!(
        dump(&n1, "keep").await.expect("dump"),
        before,
        "no acknowledged write lost"
    );
    write_retrying(&n1, "keep/after", "ok", Duration::from_secs(20))
        .await
        .expect("writes again");
    n1.delnode("n2", false).await.expect("delnode n2");
    n1.delnode("n3", false).await.expect("delnode n3");
    assert_eq!(n1.nodes().await.expect("nodes").len(), 1);
}
