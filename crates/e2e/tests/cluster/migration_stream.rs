//! A continuous stream across a live migration (subnet 135, namespaces bsd135*): on a
//! vxlan vnet, VM 1351 on n1 pings VM 1352 every 10 ms (the appliance's
//! `brigade.stream=`) while 1352 is live-migrated from n2 to n3. The stream goes on
//! (the target announces the guest, so n1's overlay learns where it is now), and the
//! largest gap and the lost pings are at most what the migration's downtime and
//! handover explain plus a generous margin. Prints the gap next to QEMU's downtime.

use std::time::Duration;

use brigade_e2e::eventually;
use brigade_e2e::netns::NodeNets;

use crate::sdn::{overlay, sdn_cluster, serial, vm_params, VM_NET_TIMEOUT};

const SUBNET: u8 = 135;
const NS_PREFIX: &str = "bsd135";
const SENDER: u32 = 1351;
const RECEIVER: u32 = 1352;
const SENDER_IP: &str = "10.55.0.1";
const RECEIVER_IP: &str = "10.55.0.2";
/// The appliance's stream interval (`ping -i 0.01`), ms.
const STREAM_INTERVAL_MS: u64 = 10;
/// How long the live migration task may take.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(90);
/// Slack beyond the downtime and handover for the stream's gap (scheduling on a loaded
/// machine, the announce reaching the sender's node): generous, but a stream that does
/// not follow the guest (no announce: the sender's node keeps sending to n2 until its
/// overlay entry ages out after 300 s) stays far beyond it.
const STREAM_MARGIN_MS: u64 = 2000;
/// Answers the stream must show after the migration before it is judged.
const ANSWERS_AFTER: usize = 100;

/// The sequence numbers of the answers from `peer` in `log`, in the order printed.
fn answers(log: &str, peer: &str) -> Vec<u16> {
    let prefix = format!("bytes from {peer}: seq=");
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find(&prefix)? + prefix.len()..];
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

/// The largest step between successive new answers (in pings) and the pings lost; a
/// late answer (below the highest so far) is no step, wrap-around at 65536 is not a gap.
fn gap_and_lost(seqs: &[u16]) -> (u64, u64) {
    let Some((&first, rest)) = seqs.split_first() else {
        return (0, 0);
    };
    let (mut highest, mut gap, mut lost) = (first, 0, 0);
    for &seq in rest {
        let d = seq.wrapping_sub(highest);
        if d > 0 && d < u16::MAX / 2 {
            gap = gap.max(u64::from(d));
            lost += u64::from(d) - 1;
            highest = seq;
        }
    }
    (gap, lost)
}

#[test]
fn gaps_are_counted_in_pings() {
    let log = "tick 4\n64 bytes from 10.55.0.2: seq=7 ttl=64 time=0.5 ms\n\
        64 bytes from 10.55.0.2: seq=8 ttl=64 time=0.5 ms\n\
        64 bytes from 10.55.0.9: seq=9 ttl=64 time=0.5 ms\n\
        64 bytes from 10.55.0.2: seq=20 ttl=64 time=80.1 ms\n\
        64 bytes from 10.55.0.2: seq=21 ttl=64 time=0.5 ms\n";
    let seqs = answers(log, RECEIVER_IP);
    assert_eq!(seqs, vec![7, 8, 20, 21]);
    assert_eq!(gap_and_lost(&seqs), (12, 11));
    assert_eq!(gap_and_lost(&[65534, 65535, 0, 1]), (1, 0));
    assert_eq!(gap_and_lost(&[5, 6, 4, 7]), (1, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_10ms_stream_survives_a_live_migration_of_its_receiver() {
    let nets = NodeNets::new(NS_PREFIX, SUBNET, 3);
    let c = sdn_cluster("migration_stream", SUBNET, &nets).await;
    let cfg = c.nodes[0].config_path.clone();
    overlay(&cfg).await;
    let n1 = c.client(0).expect("client");
    let mut sender = vm_params("blue", SENDER_IP, RECEIVER_IP);
    sender.insert(
        "append".into(),
        format!(
            "{} brigade.stream={RECEIVER_IP}",
            brigade_guest::vm_config::APPLIANCE_APPEND
        ),
    );
    for (node, vmid, params) in [
        ("n2", RECEIVER, vm_params("blue", RECEIVER_IP, SENDER_IP)),
        ("n1", SENDER, sender),
    ] {
        n1.guest_create(
            node,
            brigade_core::layout::GuestKind::Qemu,
            vmid,
            &params,
            None,
            true,
        )
        .await
        .unwrap_or_else(|e| panic!("create and start {vmid} on {node}: {e}"));
    }
    eventually(VM_NET_TIMEOUT, "1351 streams to 1352", || async {
        answers(&serial(&c, 0, SENDER), RECEIVER_IP).len() >= ANSWERS_AFTER
    })
    .await;

    let before = serial(&c, 0, SENDER).len();
    let loc = n1.locate(RECEIVER).await.expect("locate");
    let task = n1.guest_migrate(&loc, "n3", true).await.expect("migrate");
    let t = brigade_e2e::wait_task(&n1, &task.node, &task.upid, MIGRATION_TIMEOUT).await;
    assert!(t.error.is_none(), "live migration to n3: {:?}", t.error);
    let result = t.result.expect("migration result");
    let downtime = result.downtime_ms.expect("QEMU's downtime");
    let handover = result.handover_ms.expect("handover time");
    let at_end = serial(&c, 0, SENDER).len();
    eventually(
        VM_NET_TIMEOUT,
        "the stream goes on after the move",
        || async {
            answers(
                serial(&c, 0, SENDER).get(at_end..).unwrap_or(""),
                RECEIVER_IP,
            )
            .len()
                >= ANSWERS_AFTER
        },
    )
    .await;

    let log = serial(&c, 0, SENDER);
    let seqs = answers(log.get(before..).unwrap_or(""), RECEIVER_IP);
    let (gap, lost) = gap_and_lost(&seqs);
    let (gap_ms, lost_ms) = (gap * STREAM_INTERVAL_MS, lost * STREAM_INTERVAL_MS);
    let explained = downtime + handover;
    println!(
        "stream across the live migration n2 -> n3: largest gap {gap} pings ({gap_ms} ms), \
         {lost} lost ({lost_ms} ms) of {} answered; QEMU downtime {downtime} ms, handover {handover} ms",
        seqs.len()
    );
    assert!(
        gap_ms <= explained + STREAM_MARGIN_MS,
        "the stream's largest gap {gap_ms} ms exceeds downtime {downtime} + handover {handover} + {STREAM_MARGIN_MS} ms"
    );
    assert!(
        lost_ms <= explained + STREAM_MARGIN_MS,
        "{lost} pings lost ({lost_ms} ms) exceed downtime {downtime} + handover {handover} + {STREAM_MARGIN_MS} ms"
    );
    drop(c);
}
