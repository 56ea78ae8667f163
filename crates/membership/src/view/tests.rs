//! Unit tests of the member view: liveness, replay protection, NTP-style estimates, gossip.

use super::*;
use crate::packet::DigestEntry;

const SEC: i64 = 1_000_000_000;

fn view() -> MemberView {
    let mut v = MemberView::new(1, "n1", Duration::from_secs(10), 1);
    let addr = |s: &str| Some(s.parse::<SocketAddr>().expect("addr"));
    v.set_peers(vec![
        PeerConfig {
            id: 1,
            name: "n1".into(),
            links: vec![addr("127.0.0.1:5405")],
        },
        PeerConfig {
            id: 2,
            name: "n2".into(),
            links: vec![addr("127.0.0.2:5405"), addr("10.0.0.2:5405")],
        },
    ]);
    v
}

fn hb(seq: u64, link: u8) -> Heartbeat {
    Heartbeat {
        link,
        from: 2,
        to: 1,
        boot: 100,
        seq,
        sent_ns: 0,
        echo_seq: 0,
        echo_sent_ns: 0,
        echo_recv_ns: 0,
    }
}

#[test]
fn liveness_follows_the_node_timeout() {
    let mut v = view();
    let t0 = Instant::now();
    assert!(!v.is_alive(2, t0));
    v.on_heartbeat(&hb(1, 0), t0, 0).expect("accepted");
    assert!(v.is_alive(2, t0 + Duration::from_secs(9)));
    assert!(!v.is_alive(2, t0 + Duration::from_secs(10)));
    assert!(v.is_alive(1, t0), "we are always alive");
    assert_eq!(v.targets().len(), 2, "ourselves excluded, two links to n2");
}

#[test]
fn replays_and_strangers_are_dropped_and_counted() {
    let mut v = view();
    let t0 = Instant::now();
    v.on_heartbeat(&hb(5, 0), t0, 0).expect("accepted");
    assert_eq!(v.on_heartbeat(&hb(5, 0), t0, 0), Err(Rejection::Replay));
    assert_eq!(v.on_heartbeat(&hb(4, 0), t0, 0), Err(Rejection::Replay));
    v.on_heartbeat(&hb(3, 1), t0, 0)
        .expect("each link has its own sequence");
    assert_eq!(
        v.on_heartbeat(
            &Heartbeat {
                boot: 99,
                ..hb(50, 0)
            },
            t0,
            0
        ),
        Err(Rejection::Replay),
        "an older boot"
    );
    v.on_heartbeat(
        &Heartbeat {
            boot: 101,
            ..hb(1, 0)
        },
        t0,
        0,
    )
    .expect("a restart");
    assert_eq!(
        v.on_heartbeat(
            &Heartbeat {
                from: 9,
                ..hb(60, 0)
            },
            t0,
            0
        ),
        Err(Rejection::Unknown)
    );
    assert_eq!(
        v.on_heartbeat(&Heartbeat { to: 3, ..hb(61, 0) }, t0, 0),
        Err(Rejection::Unknown)
    );
    assert_eq!(
        v.on_heartbeat(&hb(62, 7), t0, 0),
        Err(Rejection::Unknown),
        "no link 7"
    );
    assert_eq!(v.counters.dropped_replay, 3);
    assert_eq!(v.counters.dropped_unknown, 3);
    assert_eq!(v.counters.received, 3);
}

#[test]
fn offset_and_rtt_ntp_style() {
    let mut v = view();
    let t0 = Instant::now();
    // Peer clock is 15 s ahead; one-way delay 1 ms each way.
    // We sent at our t1 = 100 s; they received at their 115.001 s, sent back at 115.002 s;
    // we receive at our 100.003 s.
    let h = Heartbeat {
        echo_seq: 7,
        echo_sent_ns: 100 * SEC,
        echo_recv_ns: 115 * SEC + 1_000_000,
        sent_ns: 115 * SEC + 2_000_000,
        ..hb(1, 0)
    };
    v.on_heartbeat(&h, t0, 100 * SEC + 3_000_000)
        .expect("accepted");
    let s = v.status(t0);
    let n2 = &s[1];
    let off = n2.clock_offset_ms.expect("offset");
    assert!((off - 15_000.0).abs() < 0.01, "{off}");
    assert_eq!(n2.clock, "alarm");
    let rtt = n2.links[0].rtt_ms.expect("rtt");
    assert!((rtt - 2.0).abs() < 0.01, "{rtt}");
    assert!(n2.links[0].up && !n2.links[1].up);
    assert_eq!(clock_state(Some(1500.0)), "warning");
    assert_eq!(clock_state(Some(-20.0)), "ok");
}

fn packet(from: u64, seq: u64, flags: u8, digest: Vec<DigestEntry>) -> Packet {
    Packet {
        hb: Heartbeat {
            from,
            to: 1,
            ..hb(seq, 0)
        },
        version: crate::packet::VERSION_2,
        flags,
        digest,
    }
}

/// Node 1 in a cluster of `n` nodes with one link each.
fn big_view(n: u64) -> MemberView {
    let mut v = MemberView::new(1, "n1", Duration::from_secs(10), 1);
    v.set_peers(
        (1..=n)
            .map(|id| PeerConfig {
                id,
                name: format!("n{id}"),
                links: vec![Some(SocketAddr::from(([127, 0, 0, id as u8], 5405)))],
            })
            .collect(),
    );
    v
}

#[test]
fn all_to_all_rounds_reach_every_link_without_a_digest() {
    let mut v = view();
    let t0 = Instant::now();
    let round = v.round(t0, 0);
    assert_eq!(round.len(), 2, "two links to n2");
    assert!(round
        .iter()
        .all(|o| o.packet.version == 2 && o.packet.flags == 0 && o.packet.digest.is_empty()));
    assert!(round[1].packet.hb.seq > round[0].packet.hb.seq);
}

#[test]
fn an_older_release_is_answered_in_version_1() {
    let mut v = view();
    let t0 = Instant::now();
    v.on_heartbeat(&hb(1, 0), t0, 0)
        .expect("a version-1 packet");
    assert!(v.round(t0, 0).iter().all(|o| o.packet.version == 1));
    v.on_packet(&packet(2, 2, 0, vec![]), t0, 0)
        .expect("the peer upgraded");
    assert!(v.round(t0, 0).iter().all(|o| o.packet.version == 2));
}

#[test]
fn gossip_rounds_probe_a_few_and_probes_are_answered_once() {
    let n = gossip::ALL_TO_ALL_MAX_NODES as u64 + 20;
    let mut v = big_view(n);
    assert_eq!(v.mode(), Mode::Gossip);
    let t0 = Instant::now();
    let round = v.round(t0, 0);
    assert_eq!(round.len(), gossip::GOSSIP_FANOUT);
    assert!(round
        .iter()
        .all(|o| o.packet.flags == crate::packet::FLAG_PROBE));
    let answer = v
        .on_packet(&packet(5, 1, crate::packet::FLAG_PROBE, vec![]), t0, 7)
        .expect("accepted")
        .expect("a probe is answered");
    assert_eq!(answer.packet.flags, crate::packet::FLAG_ACK);
    assert_eq!((answer.packet.hb.to, answer.packet.hb.echo_seq), (5, 1));
    assert_eq!(answer.addr, SocketAddr::from(([127, 0, 0, 5], 5405)));
    assert_eq!(
        v.on_packet(&packet(5, 2, crate::packet::FLAG_ACK, vec![]), t0, 0),
        Ok(None),
        "answers are not answered"
    );
    // A version-1 peer is probed every round: it only understands all-to-all.
    v.on_heartbeat(
        &Heartbeat {
            from: 9,
            ..hb(1, 0)
        },
        t0,
        0,
    )
    .expect("v1");
    for _ in 0..5 {
        let r = v.round(t0, 0);
        assert_eq!(r.len(), gossip::GOSSIP_FANOUT + 1);
        assert!(r
            .iter()
            .any(|o| o.packet.hb.to == 9 && o.packet.version == 1));
    }
}

#[test]
fn digests_carry_liveness_only_forward_in_gossip_mode() {
    let n = gossip::ALL_TO_ALL_MAX_NODES as u64 + 4;
    let mut v = big_view(n);
    let t0 = Instant::now() + Duration::from_secs(100);
    let word = |id: u64, age: u32| DigestEntry {
        id,
        ages_ms: vec![age],
    };
    v.on_packet(
        &packet(2, 1, 0, vec![word(3, 9_000), word(1, 0), word(77, 0)]),
        t0,
        0,
    )
    .expect("accepted; entries about us and strangers ignored");
    assert!(v.is_alive(3, t0 + Duration::from_millis(999)));
    assert!(
        !v.is_alive(3, t0 + Duration::from_millis(1000)),
        "word 9 s old lasts one more second"
    );
    v.on_packet(&packet(2, 2, 0, vec![word(3, 5_000)]), t0, 0)
        .expect("fresher");
    v.on_packet(&packet(2, 3, 0, vec![word(3, 9_500)]), t0, 0)
        .expect("older word does not age what we know");
    assert!(v.is_alive(3, t0 + Duration::from_millis(4_999)));
    assert!(!v.is_alive(3, t0 + Duration::from_secs(5)));
    let s = v.status(t0 + Duration::from_secs(1));
    let n3 = s.iter().find(|p| p.id == 3).expect("n3");
    assert_eq!(n3.links[0].last_heard_ms, Some(6_000));
    assert_eq!(
        n3.links[0].rtt_ms, None,
        "no RTT without a packet of its own"
    );
    // What we relay is as old as what we know, never younger.
    let relayed = v
        .round(t0 + Duration::from_secs(1), 0)
        .into_iter()
        .flat_map(|o| o.packet.digest)
        .find(|e| e.id == 3);
    if let Some(e) = relayed {
        assert_eq!(e.ages_ms, vec![6_000]);
    }

    let mut small = view();
    small
        .on_packet(
            &Packet {
                hb: hb(1, 0),
                version: crate::packet::VERSION_2,
                flags: 0,
                digest: vec![],
            },
            t0,
            0,
        )
        .expect("accepted");
    assert_eq!(small.mode(), Mode::AllToAll);
}

#[test]
fn word_that_waited_in_a_queue_arrives_older() {
    let mut v = big_view(gossip::ALL_TO_ALL_MAX_NODES as u64 + 4);
    let t0 = Instant::now() + Duration::from_secs(100);
    let mut p = packet(
        2,
        1,
        0,
        vec![DigestEntry {
            id: 3,
            ages_ms: vec![8_000],
        }],
    );
    p.hb.sent_ns = 0;
    // Received 1.5 s after it was sent (our clock, no offset known yet).
    v.on_packet(&p, t0, 1_500_000_000).expect("accepted");
    assert!(v.is_alive(3, t0 + Duration::from_millis(499)));
    assert!(
        !v.is_alive(3, t0 + Duration::from_millis(500)),
        "8 s old when sent, 9.5 s old when it arrived"
    );
}

#[test]
fn digests_are_ignored_all_to_all() {
    let mut v = big_view(4);
    let t0 = Instant::now();
    v.on_packet(
        &packet(
            2,
            1,
            0,
            vec![DigestEntry {
                id: 3,
                ages_ms: vec![0],
            }],
        ),
        t0,
        0,
    )
    .expect("accepted");
    assert!(v.is_alive(2, t0));
    assert!(
        !v.is_alive(3, t0),
        "a small cluster believes only what it hears"
    );
}
