//! Ingest at its edges: malformed and hostile SIP/HEP traffic (over UDP and TCP) mixed
//! with a legitimate call, and the call webhook's checks. Nothing crashes or stalls,
//! nothing bad becomes an event, the counters say what was dropped, and the call in
//! between is tracked.

use std::time::Duration;

use ringside_bus::Deliveries;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

fn agents(s: &mut ringside::config::Settings) {
    s.extension_pattern = "^1[0-9]{2}$".into();
    s.call_webhook_secret = Some("s3cret".into());
}

fn sip(first_line: &str, call_id: &str, cseq: &str, to_tag: &str, extra: &str) -> String {
    format!(
        "{first_line}\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{call_id}\r\n\
         From: <sip:+79123456789@trunk>;tag=a\r\nTo: <sip:101@pbx>{to_tag}\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq}\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// Minimal HTTP/1.1 exchange (one request per connection).
use support::http;

async fn event_types(deliveries: &mut Deliveries, n: usize) -> Vec<String> {
    let mut types = Vec::new();
    while types.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), deliveries.next()).await {
            Ok(Some(d)) => {
                types.push(d.message.routing_key.clone());
                d.acker.ack().await.expect("ack");
            }
            _ => panic!("expected {n} events, got {types:?}"),
        }
    }
    types
}

async fn quiet(deliveries: &mut Deliveries) {
    if let Ok(Some(extra)) =
        tokio::time::timeout(Duration::from_millis(800), deliveries.next()).await
    {
        panic!("an unexpected event: {}", extra.message.routing_key);
    }
}

/// The value of the packet counter with this outcome, summed over its other labels.
fn counted(metrics: &str, outcome: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("ringside_ingest_packets_total")
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn hostile_traffic_is_dropped_and_counted_while_a_real_call_is_tracked() {
    let suite = support::all_in_one_with(agents).await;
    let bound = suite.running.ingest.expect("ingest");
    let mut watch = suite.watch(support::CALL_EVENTS).await;
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    let invite = sip("INVITE sip:101@pbx SIP/2.0", "legit-1", "1 INVITE", "", "");
    let hostile: Vec<Vec<u8>> = vec![
        invite.as_bytes()[..60].to_vec(), // truncated
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(), // binary garbage
        format!(
            "INVITE sip:101@pbx SIP/2.0\r\nX-Big: {}\r\n\r\n",
            "A".repeat(40_000)
        )
        .into_bytes(), // huge header
        invite.replace("Call-ID: legit-1\r\n", "").into_bytes(), // no Call-ID
        invite
            .replace("Content-Length: 0", "Content-Length: 9999")
            .into_bytes(), // a length past the body: refused as truncated
        b"\r\n\r\n".to_vec(),             // keep-alive
        vec![0xff; 1500],                 // not text
        b"HEP3\x00\x07garbage".to_vec(),  // HEP header on the SIP port
        b"GET / HTTP/1.1\r\nHost: pbx\r\n\r\n".to_vec(), // a web scanner
    ];
    for packet in &hostile {
        udp.send_to(packet, bound.sip).await.expect("send");
    }
    for n in 0..500 {
        // A scanner's OPTIONS flood (UDP: the kernel may drop some of a burst).
        let options = sip(
            "OPTIONS sip:100@pbx SIP/2.0",
            &format!("scan-{n}"),
            "1 OPTIONS",
            "",
            "User-Agent: friendly-scanner\r\n",
        );
        udp.send_to(options.as_bytes(), bound.sip)
            .await
            .expect("send");
    }
    for packet in [
        &b"HEP3\xff\xff"[..],
        b"HEP3\x00\x0c\x00\x00\x00\x0f\x00\x00",
        b"not hep at all",
    ] {
        udp.send_to(packet, bound.hep).await.expect("send hep");
    }

    // The legitimate call, with more garbage between its messages.
    udp.send_to(invite.as_bytes(), bound.sip)
        .await
        .expect("invite");
    udp.send_to(&hostile[1], bound.sip).await.expect("garbage");
    let ok = sip(
        "SIP/2.0 200 OK",
        "legit-1",
        "1 INVITE",
        ";tag=b",
        "Contact: <sip:101@10.0.0.5>\r\n",
    );
    udp.send_to(ok.as_bytes(), bound.sip).await.expect("200");
    // Over TCP: a stream that cannot be framed is closed; a good one is read in pieces.
    let mut bad = TcpStream::connect(bound.sip).await.expect("tcp");
    bad.write_all(b"INVITE sip:101@pbx SIP/2.0\r\nCall-ID: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), bad.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "an unframeable stream is closed"
    );
    let bye = sip(
        "BYE sip:101@10.0.0.5 SIP/2.0",
        "legit-1",
        "2 BYE",
        ";tag=b",
        "",
    );
    let mut good = TcpStream::connect(bound.sip).await.expect("tcp");
    let (head, tail) = bye.as_bytes().split_at(30);
    good.write_all(b"\r\n\r\n").await.expect("keep-alive");
    good.write_all(head).await.expect("first half");
    tokio::time::sleep(Duration::from_millis(50)).await;
    good.write_all(tail).await.expect("second half");

    assert_eq!(
        event_types(&mut watch, 3).await,
        ["call.ringing", "call.answered", "call.ended"]
    );
    quiet(&mut watch).await;

    let (status, metrics) = http(suite.running.http_addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(status, 200);
    for (outcome, at_least) in [
        ("irrelevant", 100.0),
        ("truncated", 1.0),
        ("unparseable", 1.0),
        ("too_large", 1.0),
        ("missing_header", 1.0),
        ("not_text", 1.0),
        ("unframeable", 1.0),
        ("hep_bad_length", 1.0),
        ("hep_bad_chunk", 1.0),
        ("hep_bad_magic", 1.0),
        ("signal", 3.0),
    ] {
        let n = counted(&metrics, outcome);
        assert!(
            n >= at_least,
            "{outcome}: counted {n}, expected at least {at_least}\n{metrics}"
        );
    }
    suite.stop().await;
}

#[tokio::test]
async fn the_call_webhook_checks_its_secret_and_body_and_ignores_repeats() {
    let suite = support::all_in_one_with(agents).await;
    let addr = suite.running.http_addr;
    let mut watch = suite.watch(support::CALL_EVENTS).await;
    let json = [("content-type", "application/json")];
    let with_secret = [
        ("content-type", "application/json"),
        ("x-ringside-secret", "s3cret"),
    ];
    let ringing = br#"{"call_id":"cloud-1","event":"ringing","from":"8 912 345-67-89","to":"101"}"#;

    let (status, _) = http(addr, "POST", "/ingest/calls", &json, ringing).await;
    assert_eq!(status, 401, "no secret");
    let wrong = [
        ("content-type", "application/json"),
        ("x-ringside-secret", "s3crex"),
    ];
    assert_eq!(
        http(addr, "POST", "/ingest/calls", &wrong, ringing).await.0,
        401,
        "wrong secret"
    );
    let unknown = br#"{"call_id":"cloud-1","event":"ringing","from":"1","to":"101","admin":true}"#;
    let (status, body) = http(addr, "POST", "/ingest/calls", &with_secret, unknown).await;
    assert_eq!(status, 422, "unknown field: {body}");
    assert!(body.contains("admin"), "the error names the field: {body}");
    assert_eq!(
        http(addr, "POST", "/ingest/calls", &with_secret, b"{not json")
            .await
            .0,
        400
    );
    let bad_event = br#"{"call_id":"c","event":"exploded","from":"1","to":"101"}"#;
    assert_eq!(
        http(addr, "POST", "/ingest/calls", &with_secret, bad_event)
            .await
            .0,
        422
    );
    let huge = vec![b' '; 70 * 1024];
    assert_eq!(
        http(addr, "POST", "/ingest/calls", &with_secret, &huge)
            .await
            .0,
        413
    );
    // The secret first: a large body from someone without it is not read at all.
    assert_eq!(
        http(addr, "POST", "/ingest/calls", &wrong, &huge).await.0,
        401,
        "the secret is checked before the body"
    );
    let form = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-ringside-secret", "s3cret"),
    ];
    assert_eq!(
        http(addr, "POST", "/ingest/calls", &form, ringing).await.0,
        415,
        "JSON only"
    );
    quiet(&mut watch).await;

    let (status, body) = http(addr, "POST", "/ingest/calls", &with_secret, ringing).await;
    assert_eq!((status, body.as_str()), (202, r#"{"events":1}"#));
    let (status, body) = http(addr, "POST", "/ingest/calls", &with_secret, ringing).await;
    assert_eq!(
        (status, body.as_str()),
        (202, r#"{"events":0}"#),
        "a repeated delivery changes nothing"
    );
    let answered = br#"{"call_id":"cloud-1","event":"answered","from":"8 912 345-67-89","to":"101","extension":"101"}"#;
    assert_eq!(
        http(addr, "POST", "/ingest/calls", &with_secret, answered)
            .await
            .0,
        202
    );
    let ended = br#"{"call_id":"cloud-1","event":"ended","from":"8 912 345-67-89","to":"101","time":"2026-11-22T10:00:00Z"}"#;
    assert_eq!(
        http(addr, "POST", "/ingest/calls", &with_secret, ended)
            .await
            .0,
        202
    );
    assert_eq!(
        event_types(&mut watch, 3).await,
        ["call.ringing", "call.answered", "call.ended"]
    );
    // A call nobody took: the PBX says "missed" once, for the whole call.
    let ringing = br#"{"call_id":"cloud-2","event":"ringing","from":"8 912 345-67-89","to":"101"}"#;
    let missed = br#"{"call_id":"cloud-2","event":"missed","from":"8 912 345-67-89","to":"101","outcome":"busy"}"#;
    for body in [&ringing[..], &missed[..], &missed[..]] {
        assert_eq!(
            http(addr, "POST", "/ingest/calls", &with_secret, body)
                .await
                .0,
            202
        );
    }
    assert_eq!(
        event_types(&mut watch, 2).await,
        ["call.ringing", "call.missed"]
    );
    quiet(&mut watch).await;
    suite.stop().await;
}

fn call_messages(call_id: &str) -> [String; 3] {
    [
        sip("INVITE sip:101@pbx SIP/2.0", call_id, "1 INVITE", "", ""),
        sip(
            "SIP/2.0 200 OK",
            call_id,
            "1 INVITE",
            ";tag=b",
            "Contact: <sip:101@10.0.0.5>\r\n",
        ),
        sip(
            "BYE sip:101@10.0.0.5 SIP/2.0",
            call_id,
            "2 BYE",
            ";tag=b",
            "",
        ),
    ]
}

#[tokio::test]
async fn hep_needs_its_auth_key_and_is_framed_over_tcp() {
    let suite = support::all_in_one_with(|s| {
        agents(s);
        s.hep_auth_key = Some("capture-key".into());
    })
    .await;
    let bound = suite.running.ingest.expect("ingest");
    let mut watch = suite.watch(support::CALL_EVENTS).await;
    let (src, dst) = (
        "10.0.0.1:5060".parse().expect("addr"),
        "10.0.0.2:5060".parse().expect("addr"),
    );
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    for message in call_messages("hep-wrong-key") {
        let packet = ringside_ingest::hep::encode(src, dst, Some(b"guess"), message.as_bytes());
        udp.send_to(&packet, bound.hep).await.expect("send");
    }
    for message in call_messages("hep-no-key") {
        let packet = ringside_ingest::hep::encode(src, dst, None, message.as_bytes());
        udp.send_to(&packet, bound.hep).await.expect("send");
    }
    quiet(&mut watch).await;

    // The right key, over one TCP stream, the packets split at awkward places.
    let stream: Vec<u8> = call_messages("hep-tcp")
        .iter()
        .flat_map(|m| ringside_ingest::hep::encode(src, dst, Some(b"capture-key"), m.as_bytes()))
        .collect();
    let mut tcp = TcpStream::connect(bound.hep).await.expect("tcp");
    for piece in stream.chunks(97) {
        tcp.write_all(piece).await.expect("write");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        event_types(&mut watch, 3).await,
        ["call.ringing", "call.answered", "call.ended"]
    );
    quiet(&mut watch).await;
    let (_, metrics) = http(suite.running.http_addr, "GET", "/metrics", &[], b"").await;
    assert!(
        counted(&metrics, "bad_auth_key") >= 6.0,
        "every keyless or wrongly keyed packet is refused"
    );
    suite.stop().await;
}

#[tokio::test]
async fn packets_from_outside_the_allowed_networks_are_ignored() {
    let suite = support::all_in_one_with(|s| {
        agents(s);
        s.sip_allowed_nets = "10.0.0.0/8".into();
    })
    .await;
    let bound = suite.running.ingest.expect("ingest");
    let mut watch = suite.watch(support::CALL_EVENTS).await;
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    for message in call_messages("from-outside") {
        udp.send_to(message.as_bytes(), bound.sip)
            .await
            .expect("send");
    }
    quiet(&mut watch).await;
    let (_, metrics) = http(suite.running.http_addr, "GET", "/metrics", &[], b"").await;
    assert!(counted(&metrics, "forbidden_source") >= 3.0);
    suite.stop().await;
}

/// `serve ingest` alone, before any consumer ever ran: what it publishes waits in
/// the consumers' queues, which ingest declared at its start, rather than being
/// routed nowhere (confirmed by the broker and dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_before_their_consumers_ever_started_wait_for_them() {
    let Some(suite) = support::ingest_service(|s| {
        s.call_webhook_secret = Some("s3cret".into());
    })
    .await
    else {
        return;
    };
    let amqp = suite.settings.amqp_url.clone().expect("RabbitMQ");
    let broker = ringside_bus::amqp::AmqpBus::connect(
        &amqp,
        &suite.settings.exchange,
        "ringside-test-inspect",
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("RabbitMQ");
    let with_secret = [
        ("content-type", "application/json"),
        ("x-ringside-secret", "s3cret"),
    ];
    let ringing = br#"{"call_id":"early-1","event":"ringing","from":"8 912 345-67-89","to":"101"}"#;
    let addr = suite.running.http_addr;
    let (status, body) = http(addr, "POST", "/ingest/calls", &with_secret, ringing).await;
    assert!((200..300).contains(&status), "{status}: {body}");
    let queue = format!("{}activities", suite.settings.queue_prefix);
    let waiting = support::eventually("the event in activities' queue", || async {
        let depth = broker.queue_depth(&queue).await.ok()?;
        (depth >= 1).then_some(depth)
    })
    .await;
    assert_eq!(waiting, 1, "call.ringing waits for activities");
    suite.stop().await;
}
