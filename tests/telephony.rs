//! Telephony with real SIP traffic: SIPp places calls through a real Kamailio proxy
//! that forks them to SIPp "phones" and mirrors every message to Ringside — as raw
//! SIP or as HEPv3 — exactly as a PBX's capture would. The tests assert the call
//! events that reach the bus, in order: in the all-in-one mode and, when RabbitMQ is
//! configured, from `serve ingest` on RabbitMQ.

use std::process::{Command, Stdio};
use std::time::Duration;

use ringside_bus::{Deliveries, EventPayload};
use ringside_proto::events::v1 as ev;
use support::Suite;
use support::pbx::{CALLER, Mirror, Pbx, free_udp_port, scenario, tools_present};

const OFFICE: &str = "+74951234567";

/// "type extension" lines for the next `n` call events (and the raw payloads).
async fn events(deliveries: &mut Deliveries, n: usize) -> (Vec<String>, Vec<EventPayload>) {
    let mut lines = Vec::new();
    let mut payloads = Vec::new();
    while lines.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(15), deliveries.next()).await;
        let Ok(Some(delivery)) = next else {
            panic!("expected {n} call events, got {lines:?}");
        };
        let envelope = delivery.message.decode().expect("an envelope");
        delivery.acker.ack().await.expect("ack");
        let payload = envelope.payload.expect("a payload");
        lines.push(match &payload {
            EventPayload::CallRinging(e) => format!("call.ringing {}", e.extension),
            EventPayload::CallAnswered(e) => format!("call.answered {}", e.extension),
            EventPayload::CallEnded(e) => format!("call.ended {}", e.extension),
            EventPayload::CallMissed(e) => format!("call.missed {:?}", e.outcome()),
            other => format!("unexpected {other:?}"),
        });
        payloads.push(payload);
    }
    (lines, payloads)
}

/// Nothing more arrives for a while: no duplicates.
async fn quiet(deliveries: &mut Deliveries) {
    if let Ok(Some(extra)) =
        tokio::time::timeout(Duration::from_millis(800), deliveries.next()).await
    {
        panic!("an extra event arrived: {}", extra.message.routing_key);
    }
}

/// The suites a telephony test runs against, each with how its proxy mirrors.
async fn setups() -> Vec<(Suite, Mirror)> {
    let agents = |s: &mut ringside::config::Settings| s.extension_pattern = "^1[0-9]{2}$".into();
    let mut setups = vec![
        (support::all_in_one_with(agents).await, Mirror::RawSip),
        (support::all_in_one_with(agents).await, Mirror::Hep),
    ];
    if let Some(suite) = support::ingest_service(agents).await {
        setups.push((suite, Mirror::Hep));
    }
    setups
}

fn parties(payload: &EventPayload) -> &ev::CallParties {
    let call = match payload {
        EventPayload::CallRinging(e) => e.call.as_ref(),
        EventPayload::CallAnswered(e) => e.call.as_ref(),
        EventPayload::CallEnded(e) => e.call.as_ref(),
        EventPayload::CallMissed(e) => e.call.as_ref(),
        _ => None,
    };
    call.expect("call parties")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_call_rings_answers_and_ends_with_its_duration() {
    if !tools_present() {
        return;
    }
    for (suite, mirror) in setups().await {
        let mut watch = suite.watch(support::CALL_EVENTS).await;
        let pbx = Pbx::start(&suite, mirror);
        let _phone = pbx.phone("101", "uas_answer.xml", &[]);
        pbx.call(OFFICE, "uac_answer.xml", &["-d", "1500"]);
        let (lines, payloads) = events(&mut watch, 3).await;
        assert_eq!(
            lines,
            ["call.ringing 101", "call.answered 101", "call.ended 101"],
            "{} via {mirror:?}",
            suite.name
        );
        let call = parties(&payloads[0]);
        assert_eq!(
            (call.caller.as_str(), call.callee.as_str()),
            (CALLER, OFFICE)
        );
        assert_eq!(call.direction(), ev::CallDirection::Inbound);
        let EventPayload::CallEnded(ended) = &payloads[2] else {
            unreachable!()
        };
        assert!(
            (1_400..10_000).contains(&ended.duration_ms),
            "duration {} ms",
            ended.duration_ms
        );
        quiet(&mut watch).await;
        suite.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_hangs_up_while_it_rings_is_a_missed_call() {
    if !tools_present() {
        return;
    }
    for (suite, mirror) in setups().await {
        let mut watch = suite.watch(support::CALL_EVENTS).await;
        let pbx = Pbx::start(&suite, mirror);
        let _phone = pbx.phone("101", "uas_ring.xml", &[]);
        pbx.call(OFFICE, "uac_cancel.xml", &[]);
        let (lines, _) = events(&mut watch, 2).await;
        assert_eq!(
            lines,
            ["call.ringing 101", "call.missed Missed"],
            "{} via {mirror:?}",
            suite.name
        );
        quiet(&mut watch).await;
        suite.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_or_declining_phone_ends_the_call_with_that_outcome() {
    if !tools_present() {
        return;
    }
    for (suite, mirror) in setups().await {
        let mut watch = suite.watch(support::CALL_EVENTS).await;
        let pbx = Pbx::start(&suite, mirror);
        let phone = pbx.refusing_phone("101", 486);
        pbx.call(OFFICE, "uac_refused.xml", &[]);
        drop(phone);
        let _phone = pbx.refusing_phone("101", 603);
        pbx.call(OFFICE, "uac_refused.xml", &[]);
        let (lines, _) = events(&mut watch, 4).await;
        assert_eq!(
            lines,
            [
                "call.ringing 101",
                "call.missed Busy",
                "call.ringing 101",
                "call.missed Rejected"
            ],
            "{} via {mirror:?}",
            suite.name
        );
        quiet(&mut watch).await;
        suite.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_call_rings_both_agents_and_says_who_answered() {
    if !tools_present() {
        return;
    }
    for (suite, mirror) in setups().await {
        let mut watch = suite.watch(support::CALL_EVENTS).await;
        let pbx = Pbx::start(&suite, mirror);
        let _ringing = pbx.phone("101", "uas_ring.xml", &[]);
        let _answering = pbx.phone("102", "uas_answer.xml", &[]);
        pbx.call("200", "uac_answer.xml", &["-d", "500"]);
        let (mut lines, _) = events(&mut watch, 4).await;
        lines[..2].sort(); // the proxy sends both legs at once
        assert_eq!(
            lines,
            [
                "call.ringing 101",
                "call.ringing 102",
                "call.answered 102",
                "call.ended 102"
            ],
            "{} via {mirror:?}",
            suite.name
        );
        quiet(&mut watch).await;
        suite.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_call_is_tracked_to_its_end() {
    if !tools_present() {
        return;
    }
    let (suite, mirror) = setups().await.into_iter().next().expect("a setup");
    let mut watch = suite.watch(support::CALL_EVENTS).await;
    let pbx = Pbx::start(&suite, mirror);
    let _phone = pbx.phone("101", "uas_answer.xml", &[]);
    pbx.call(OFFICE, "uac_answer.xml", &["-d", "8000"]);
    let (lines, payloads) = events(&mut watch, 3).await;
    assert_eq!(
        lines,
        ["call.ringing 101", "call.answered 101", "call.ended 101"]
    );
    let EventPayload::CallEnded(ended) = &payloads[2] else {
        unreachable!()
    };
    assert!(ended.duration_ms >= 7_900 && !ended.expired, "{ended:?}");
    suite.stop().await;
}

/// The whole path in one process: a real SIP call the caller gives up on becomes a
/// call entry on the stranger's new lead and a call-back task for the agent at the
/// extension that rang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_sip_call_becomes_a_call_back_task_for_the_agent_who_rang() {
    use ringside_proto::activities::v1 as pb;
    if !tools_present() {
        return;
    }
    let suite = support::all_in_one_with(|s| {
        s.extension_pattern = "^1[0-9]{2}$".into();
        s.agent_extensions = "olga=101".into();
    })
    .await;
    let pbx = Pbx::start(&suite, Mirror::RawSip);
    let _phone = pbx.phone("101", "uas_ring.xml", &[]);
    pbx.call(OFFICE, "uac_cancel.xml", &[]);
    let mut olga = suite.activities("olga").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let task = loop {
        let req = pb::ListTasksRequest {
            assignee_id: "me".into(),
            ..Default::default()
        };
        let tasks = olga
            .list_tasks(req)
            .await
            .expect("tasks")
            .into_inner()
            .tasks;
        if let Some(task) = tasks.into_iter().next() {
            break task;
        }
        assert!(tokio::time::Instant::now() < deadline, "no call-back task");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(task.r#type(), pb::TaskType::CallBack);
    assert_eq!(task.extension, "101");
    let lead_id = task.links.expect("links").lead_id;
    assert!(!lead_id.is_empty(), "the stranger became a lead");
    let req = pb::TimelineRequest {
        subject: Some(pb::Subject {
            subject: Some(pb::subject::Subject::LeadId(lead_id)),
        }),
        ..Default::default()
    };
    let entries = olga
        .timeline(req)
        .await
        .expect("timeline")
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].summary, "Inbound call, missed (rang 101)");
    assert_eq!(suite.count("leads").await, 1);
    suite.stop().await;
}

/// The moment the product exists for, end to end: a real SIP call rings extension 101
/// and the agent's console, open in a real browser, pops the seeded client's card
/// with their open deal; the caller hangs up and the card says the call is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sip_call_pops_the_clients_card_in_the_agents_browser() {
    use ringside_proto::contacts::v1 as cpb;
    if !tools_present() || !support::browser::present() {
        return;
    }
    let suite = support::all_in_one_with(|s| s.extension_pattern = "^1[0-9]{2}$".into()).await;
    let olga = support::Person {
        extensions: &["101"],
        ..support::Person::new("olga", "Ольга")
    };
    suite.hire(&[olga]).await;
    let ivan = cpb::CreateContactRequest {
        name: "Иван Петров".into(),
        identities: vec![cpb::Identity {
            kind: cpb::IdentityKind::Phone as i32,
            value: "8 912 345-67-89".into(),
        }],
        ..Default::default()
    };
    let ivan = suite
        .client()
        .await
        .create_contact(ivan)
        .await
        .expect("contact")
        .into_inner();
    let deal = ringside_proto::deals::v1::CreateDealRequest {
        title: "Annual support".into(),
        amount_minor: 4_800_000,
        currency: "RUB".into(),
        contacts: vec![ringside_proto::deals::v1::DealContact {
            contact_id: ivan.id.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    suite
        .deals("olga")
        .await
        .create_deal(deal)
        .await
        .expect("deal");

    let browser = support::browser::Browser::start().await;
    suite.set_password("olga").await;
    let console = format!("http://{}/", suite.running.http_addr);
    browser.sign_in(&console, "olga", "Ольга").await;

    let pbx = Pbx::start(&suite, Mirror::Hep);
    let _phone = pbx.phone("101", "uas_ring.xml", &[]);
    let call = {
        let port = pbx.port;
        let dir = scenario("uac_cancel.xml");
        tokio::task::spawn_blocking(move || {
            // Rings for a few seconds, then the caller hangs up.
            Command::new("sipp")
                .arg(format!("127.0.0.1:{port}"))
                .arg("-sf")
                .arg(dir)
                .args(["-s", OFFICE, "-key", "caller", CALLER, "-i", "127.0.0.1"])
                .args(["-p", &free_udp_port().to_string(), "-m", "1", "-nostdin"])
                .args(["-timeout", "30s", "-timeout_error"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        })
    };
    browser
        .wait_text(".card .name", |t| t == "Иван Петров")
        .await;
    browser
        .wait_text(".card", |t| t.contains("Annual support — New"))
        .await;
    let status = call.await.expect("join").expect("sipp");
    assert!(status.success(), "the SIPp call failed: {status}");
    browser
        .wait_text(".card .state", |t| t == "call ended")
        .await;
    browser.quit().await;
    suite.stop().await;
}

/// A SIP scanner sends twenty INVITEs straight to extension 101 from numbers
/// nobody knows (`User-Agent: friendly-scanner`), which the proxy refuses: none is
/// a call — no event, so no card and no lead — and a real call after them rings as
/// ever, making the one lead of its caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanners_invites_the_proxy_refuses_are_no_calls() {
    if !tools_present() {
        return;
    }
    for (suite, mirror) in setups().await {
        let mut watch = suite.watch(support::CALL_EVENTS).await;
        let pbx = Pbx::start(&suite, mirror);
        pbx.scan("101", 20);
        let _phone = pbx.phone("101", "uas_answer.xml", &[]);
        pbx.call(OFFICE, "uac_answer.xml", &["-d", "300"]);
        let (lines, payloads) = events(&mut watch, 3).await;
        assert_eq!(
            lines,
            ["call.ringing 101", "call.answered 101", "call.ended 101"],
            "{} via {mirror:?}: the scanner's INVITEs made none",
            suite.name
        );
        assert_eq!(parties(&payloads[0]).caller, CALLER);
        quiet(&mut watch).await;
        // Each was seen and forgotten as the PBX refused it (not just left to time out).
        let addr = suite.running.http_addr;
        let (_, metrics) = support::http(addr, "GET", "/metrics", &[], b"").await;
        let forgotten = (metrics.lines())
            .find_map(|l| l.strip_prefix("ringside_ingest_calls_never_rang_total "))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(
            forgotten >= 20.0,
            "{} via {mirror:?}: {forgotten}",
            suite.name
        );
        let contacts = "ringside.contacts.v1.Contacts";
        if suite.running.grpc_services.contains(&contacts) {
            let leads = support::eventually("the caller's lead", || async {
                let leads = support::leads(&suite).await;
                (!leads.is_empty()).then_some(leads)
            })
            .await;
            let phones: Vec<_> = (leads.iter())
                .flat_map(|l| l.identities.iter().map(|i| i.value.clone()))
                .collect();
            assert_eq!(phones, [CALLER], "{} via {mirror:?}: one lead", suite.name);
        }
        suite.stop().await;
    }
}
