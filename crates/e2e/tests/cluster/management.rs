//! The API on a management network of its own (`api_address` in node.toml, `node init
//! --api-bind`): the node serves its API and CLI there and nowhere else, joins and
//! replicates over the cluster network, and its certificate names the management address.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use brigade_e2e::{brigade, cluster, eventually, write_retrying};
use brigade_node::config::RaftTuning;

/// How long a write may wait for a leader.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long replication to a new node may take.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused TCP connect may take on loopback.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread")]
async fn the_api_listens_on_the_management_address_while_the_cluster_talks_on_its_own() {
    let mut c = cluster("management", 88, 2, RaftTuning::default()).await;
    let n3 = c.spawn_node().expect("spawn n3");
    c.wait_api(n3).await.expect("n3 api");
    c.stop(n3).expect("stop n3");
    let mgmt: IpAddr = "127.0.89.3".parse().expect("ip");
    c.nodes[n3].config.api_address = Some(mgmt);
    c.save_config(n3).expect("save");
    c.start(n3).expect("start n3");
    // wait_api and every client below use the config's API address: the management one.
    c.wait_api(n3)
        .await
        .expect("n3 answers on the management address");
    let cluster_addr = c.nodes[n3].config.address;
    let port = c.nodes[n3].config.api_port;
    assert!(
        TcpStream::connect_timeout(&SocketAddr::new(cluster_addr, port), CONNECT_TIMEOUT).is_err(),
        "nothing listens for the API on the cluster address {cluster_addr}:{port}"
    );

    c.join(n3).await.expect("n3 joins over the cluster network");
    assert_eq!(
        c.client(0).expect("n1").nodes().await.expect("nodes").len(),
        3
    );
    write_retrying(
        &c.client(0).expect("n1"),
        "management/probe",
        "replicated",
        WRITE_TIMEOUT,
    )
    .await
    .expect("write on n1");
    // The CA-signed certificate n3 got at its join must name the management address,
    // or this client (which checks it against the cluster CA) could not connect.
    let n3c = c.client(n3).expect("n3");
    eventually(
        REPLICATION_TIMEOUT,
        "n3 has the write, read on its management address",
        || {
            let n3c = n3c.clone();
            async move {
                n3c.fs_read("management/probe", false)
                    .await
                    .ok()
                    .and_then(|f| f.content)
                    .as_deref()
                    == Some("replicated")
            }
        },
    )
    .await;

    // The CLI finds the API through node.toml.
    let (ok, out, err) = brigade(&c.nodes[n3].config_path, &["cluster", "status"]);
    assert!(ok, "cluster status on n3: {err}");
    assert!(out.contains("n3"), "{out}");
}
