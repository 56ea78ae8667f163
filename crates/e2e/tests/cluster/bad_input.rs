//! Bad input gets a clear error and changes nothing.

use brigade_client::{Client, ClientOptions, WriteRequest};
use brigade_e2e::cluster;
use brigade_node::config::RaftTuning;

async fn version(c: &Client) -> u64 {
    c.status()
        .await
        .expect("status")
        .cfs
        .expect("cfs")
        .cluster_version
}

#[tokio::test(flavor = "multi_thread")]
async fn each_refusal_is_clear_and_changes_nothing() {
    let mut c = cluster("bad-input", 16, 2, RaftTuning::default()).await;
    let n1 = c.client(0).expect("n1");
    let v1 = n1.fs_put("a.conf", "one").await.expect("write").version;
    n1.fs_put("b.conf", "two").await.expect("write");
    let before = version(&n1).await;

    let cas = WriteRequest {
        path: "a.conf".into(),
        content: Some("three".into()),
        data: None,
        expect_version: Some(v1 + 100),
        create_exclusive: false,
    };
    let e = n1.fs_write(&cas).await.expect_err("CAS conflict");
    assert_eq!(e.status(), Some(409));
    assert!(e.to_string().contains("version conflict"), "{e}");

    let excl = WriteRequest {
        expect_version: None,
        create_exclusive: true,
        ..cas.clone()
    };
    let e = n1.fs_write(&excl).await.expect_err("create-exclusive");
    assert!(e.to_string().contains("already exists"), "{e}");

    let e = n1
        .fs_rename("a.conf", "b.conf")
        .await
        .expect_err("rename onto existing");
    assert!(e.to_string().contains("b.conf: already exists"), "{e}");

    let big = "x".repeat(1024 * 1024 + 1);
    let e = n1
        .fs_put("big.conf", &big)
        .await
        .expect_err("over the limit");
    assert_eq!(e.status(), Some(413));
    assert!(
        e.to_string().contains("exceeds the limit of 1048576 bytes"),
        "{e}"
    );

    // A body far over the API's limit names the limits, in brigade's words.
    let huge = "x".repeat(10 * 1024 * 1024);
    let e = n1
        .fs_put("huge.conf", &huge)
        .await
        .expect_err("a 10 MB body");
    assert_eq!(e.status(), Some(413), "{e}");
    assert!(
        e.to_string()
            .contains("a file in the tree holds at most 1 MiB (1048576 bytes)"),
        "{e}"
    );
    assert!(!e.to_string().contains("Failed to buffer"), "{e}");

    let e = n1.fs_put("../etc/passwd", "x").await.expect_err("bad path");
    assert_eq!(e.status(), Some(400));

    for body in [
        "{not json",
        "{\"path\": 5}",
        "{\"path\": \"x\", \"bogus\": 1}",
        "",
    ] {
        let e = n1
            .post_raw("/fs/write", body)
            .await
            .expect_err("malformed body");
        assert_eq!(e.status(), Some(400), "{body:?}: {e}");
        assert!(e.to_string().starts_with("invalid request body"), "{e}");
        assert!(!e.to_string().contains("Failed to deserialize"), "{e}");
    }
    // A field of the wrong type is named, without serde's position.
    let e = n1
        .post_raw("/fs/write", "{\"path\": 5}")
        .await
        .expect_err("wrong type");
    assert_eq!(
        e.to_string(),
        "invalid request body: path: expected a string, got integer 5"
    );

    // API tokens: missing, malformed, wrong secret, unknown id.
    let ca = c.ca_pem.clone().expect("ca");
    let url = c.nodes[0].config.api_url();
    for token in [
        None,
        Some("garbage"),
        Some("root@pam!root=wrong"),
        Some("eve@pam!x=secret"),
    ] {
        let anon = Client::new(ClientOptions {
            url: url.clone(),
            ca_pem: ca.clone(),
            token: token.map(String::from),
            local_addr: None,
            timeout: None,
        })
        .expect("client");
        let e = anon
            .fs_put("a.conf", "hacked")
            .await
            .expect_err("unauthenticated write");
        assert_eq!(e.status(), Some(401), "{token:?}: {e}");
        assert!(
            anon.fs_read("a.conf", false).await.is_err(),
            "unauthenticated read"
        );
    }

    assert_eq!(version(&n1).await, before, "nothing changed");
    assert_eq!(
        n1.fs_read("a.conf", false)
            .await
            .expect("read")
            .content
            .as_deref(),
        Some("one")
    );

    // Join tokens: garbage, wrong secret, and a reused one.
    let i = c.spawn_node().expect("spawn n3");
    c.wait_api(i).await.expect("api");
    let joiner = c.local_client(i).expect("local client");
    let member = c.nodes[0].config.api_addr().to_string();
    let e = joiner
        .cluster_join(&member, "brigade-join.garbage")
        .await
        .expect_err("garbage token");
    assert!(e.to_string().contains("malformed join token"), "{e}");

    let good = n1.join_token().await.expect("token").token;
    let mut forged = brigade_node::join_token::JoinToken::decode(&good).expect("decode");
    forged.secret = "00".repeat(24);
    let e = joiner
        .cluster_join(&member, &forged.encode())
        .await
        .expect_err("wrong secret");
    assert!(
        e.to_string()
            .contains("invalid, expired or already used join token"),
        "{e}"
    );
    let mut wrong_ca = brigade_node::join_token::JoinToken::decode(&good).expect("decode");
    wrong_ca.ca_fingerprint = vec!["00"; 32].join(":");
    let e = joiner
        .cluster_join(&member, &wrong_ca.encode())
        .await
        .expect_err("wrong CA pin");
    // The member answered, with a CA that is not the token's: said as such.
    assert!(
        e.to_string()
            .contains("the cluster's CA fingerprint does not match the token"),
        "{e}"
    );

    joiner
        .cluster_join(&member, &good)
        .await
        .expect("the real token works once");
    let i4 = c.spawn_node().expect("spawn n4");
    c.wait_api(i4).await.expect("api");
    let e = c
        .local_client(i4)
        .expect("n4")
        .cluster_join(&member, &good)
        .await
        .expect_err("reused token");
    assert!(
        e.to_string()
            .contains("invalid, expired or already used join token"),
        "{e}"
    );
    assert_eq!(
        n1.nodes().await.expect("nodes").len(),
        3,
        "the refused joiner was not added"
    );

    // delnode of an unknown node, and of the local node.
    let e = n1.delnode("n9", false).await.expect_err("unknown node");
    assert_eq!(e.status(), Some(404));
    let e = n1.delnode("n1", false).await.expect_err("local node");
    assert!(
        e.to_string().contains("cannot remove the local node"),
        "{e}"
    );

    // delnode of a real member works and leaves the others quorate.
    n1.delnode("n3", false).await.expect("delnode n3");
    assert_eq!(n1.nodes().await.expect("nodes").len(), 2);
    c.kill(i);
    brigade_e2e::write_retrying(
        &n1,
        "after-delnode",
        "ok",
        std::time::Duration::from_secs(20),
    )
    .await
    .expect("write");
}
