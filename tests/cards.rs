//! Caller-ID cards as an agent's client sees them: call events on the bus, cards on
//! the agent's WebSocket (`/agent/ws`), notes typed into a card landing on the
//! timeline — all-in-one, and as four services (contacts, activities, notifications,
//! deals) on PostgreSQL and RabbitMQ.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ringside_auth::Role;
use ringside_bus::{EventPayload, Message, new_envelope};
use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::deals::v1 as dpb;
use ringside_proto::events::v1 as ev;
use support::socket::{self, Ws, next_of, next_where};
use support::{Person, Suite};
use tokio_tungstenite::tungstenite;

const IVAN_PHONE: &str = "+79123456789";

/// Contacts, activities, notifications and deals: one suite, or four services.
struct Setup {
    suites: Vec<Suite>,
}

impl Setup {
    fn contacts(&self) -> &Suite {
        &self.suites[0]
    }

    fn activities(&self) -> &Suite {
        self.suites.get(1).unwrap_or(&self.suites[0])
    }

    fn notifications(&self) -> &Suite {
        self.suites.get(2).unwrap_or(&self.suites[0])
    }

    fn staff(&self) -> &Suite {
        support::staff_suite(&self.suites)
    }

    fn deals(&self) -> &Suite {
        self.suites.get(3).unwrap_or(&self.suites[0])
    }

    async fn stop(self) {
        for suite in self.suites.into_iter().rev() {
            suite.stop().await;
        }
    }
}

async fn setups() -> Vec<Setup> {
    let mut setups = vec![Setup {
        suites: vec![support::all_in_one().await],
    }];
    if let Some(suites) = support::card_services().await {
        setups.push(Setup { suites });
    }
    setups
}

async fn connect(setup: &Setup, agent: &str) -> Ws {
    let suite = setup.notifications();
    let token = suite
        .key
        .issue(agent, Role::Agent, Duration::from_secs(600))
        .expect("a token");
    let bearer = format!("Bearer {token}");
    socket::open(suite.running.http_addr, &[("authorization", &bearer)])
        .await
        .expect("websocket")
}

/// Nothing arrives for a while.
async fn silent(ws: &mut Ws) {
    if let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
        panic!("unexpected frame: {frame:?}");
    }
}

fn parties(call_id: &str, caller: &str) -> Option<ev::CallParties> {
    Some(ev::CallParties {
        call_id: call_id.into(),
        direction: ev::CallDirection::Inbound as i32,
        caller: caller.into(),
        callee: "+74951234567".into(),
        rang_at: Some(ringside_proto::timestamp_from_millis(
            ringside_storage::now_millis(),
        )),
    })
}

async fn publish(setup: &Setup, payload: EventPayload) {
    let suite = setup.notifications();
    let envelope = new_envelope("ingest", "test", payload);
    let message = Message::from_envelope(&envelope);
    suite
        .running
        .bus
        .publish(&[message])
        .await
        .expect("publish");
}

async fn ringing(setup: &Setup, call_id: &str, caller: &str, ext: &str) {
    let payload = EventPayload::CallRinging(ev::CallRinging {
        call: parties(call_id, caller),
        extension: ext.into(),
    });
    publish(setup, payload).await;
}

async fn seed(setup: &Setup) -> cpb::Contact {
    let olga = Person {
        extensions: &["101"],
        ..Person::new("olga", "Ольга")
    };
    let ivan = Person {
        extensions: &["102"],
        ..Person::new("ivan", "Иван")
    };
    setup.staff().hire(&[olga, ivan]).await;
    let contact = setup
        .contacts()
        .client()
        .await
        .create_contact(cpb::CreateContactRequest {
            name: "Иван Петров".into(),
            owner_id: "olga".into(),
            tags: vec!["vip".into()],
            identities: vec![cpb::Identity {
                kind: cpb::IdentityKind::Phone as i32,
                value: IVAN_PHONE.into(),
            }],
            ..Default::default()
        })
        .await
        .expect("contact")
        .into_inner();
    // Deals first: their stage changes are on the timeline too, older than the note.
    let mut deals = setup.deals().deals("olga").await;
    for (title, amount) in [("20 licences", 1_250_000), ("Old deal, lost", 10)] {
        let deal = dpb::CreateDealRequest {
            title: title.into(),
            amount_minor: amount,
            currency: "RUB".into(),
            contacts: vec![dpb::DealContact {
                contact_id: contact.id.clone(),
                role: dpb::ContactRole::DecisionMaker as i32,
            }],
            ..Default::default()
        };
        let id = deals
            .create_deal(deal)
            .await
            .expect("deal")
            .into_inner()
            .deal
            .unwrap()
            .id;
        if amount == 10 {
            let lose = dpb::LoseDealRequest {
                id,
                reason: "price".into(),
            };
            deals.lose_deal(lose).await.expect("lost");
        }
    }
    let mut activities = setup.activities().activities("olga").await;
    let on_ivan = Some(apb::Links {
        contact_id: contact.id.clone(),
        ..Default::default()
    });
    let note = apb::AddNoteRequest {
        links: on_ivan.clone(),
        text: "Asked for the price list".into(),
    };
    activities.add_note(note).await.expect("note");
    let task = apb::CreateTaskRequest {
        title: "Send the offer".into(),
        due_at: "2026-01-05T10:00:00Z".into(),
        // Overdue, with its reminder far ahead: no task.due push during these tests.
        remind_at: "2099-01-01T00:00:00Z".into(),
        links: on_ivan,
        ..Default::default()
    };
    activities.create_task(task).await.expect("task");
    contact
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_card_pops_for_the_ringing_agents_and_closes_when_someone_answers() {
    for setup in setups().await {
        let contact = seed(&setup).await;
        let (mut olga, mut ivan) = (connect(&setup, "olga").await, connect(&setup, "ivan").await);
        ringing(&setup, "c-1", IVAN_PHONE, "101").await;
        ringing(&setup, "c-1", IVAN_PHONE, "102").await;

        let card = next_of(&mut olga, "card").await["card"].clone();
        assert_eq!(card["name"], "Иван Петров");
        assert_eq!(card["client_id"], contact.id.as_str());
        assert_eq!(card["tags"][0], "vip");
        assert_eq!(card["owner_id"], "olga");
        assert_eq!(card["new_lead"], false);
        let card = if card["pending"].as_array().is_some_and(|p| !p.is_empty()) {
            next_of(&mut olga, "card_update").await["card"].clone()
        } else {
            card
        };
        assert_eq!(
            card["interactions"][0]["summary"],
            "Asked for the price list"
        );
        assert_eq!(card["tasks"][0]["title"], "Send the offer");
        assert_eq!(card["tasks"][0]["overdue"], true);
        let deals = card["deals"].as_array().expect("deals");
        assert_eq!(deals.len(), 1, "open deals only: {deals:?}");
        assert_eq!(deals[0]["title"], "20 licences");
        assert_eq!(deals[0]["stage"], "New");
        assert_eq!(deals[0]["amount_minor"], 1_250_000);
        next_of(&mut ivan, "card").await;

        // Ivan answers at 102: Olga's pop-up closes, Ivan's says he answered.
        let answered = EventPayload::CallAnswered(ev::CallAnswered {
            call: parties("c-1", IVAN_PHONE),
            extension: "102".into(),
            answered_at: None,
        });
        publish(&setup, answered).await;
        let closed = next_of(&mut olga, "card_close").await;
        assert_eq!(closed["card"]["call_id"], "c-1");
        // (Ivan's card may first get its history: a card pops as soon as the caller is
        // known and fills in after.)
        let update = next_where(&mut ivan, "card_update", |v| {
            v["card"]["state"] != "ringing"
        })
        .await;
        assert_eq!(update["card"]["state"], "answered");
        assert_eq!(update["card"]["answered_by"], "ivan");

        // A note typed into the card lands on the call's timeline entry.
        let note = r#"{"type":"note","call_id":"c-1","text":"Wants 20 licences","outcome":"sale"}"#;
        ivan.send(tungstenite::Message::Text(note.into()))
            .await
            .expect("send");
        let saved = next_of(&mut ivan, "note_saved").await;
        let ended = EventPayload::CallEnded(ev::CallEnded {
            call: parties("c-1", IVAN_PHONE),
            extension: "102".into(),
            answered_at: None,
            duration_ms: 42_000,
            expired: false,
        });
        publish(&setup, ended).await;
        let closed = next_of(&mut ivan, "card_close").await;
        assert_eq!(
            closed["card"]["entry_id"], saved["entry_id"],
            "the close links the call entry"
        );
        let entry = setup
            .activities()
            .activities("ivan")
            .await
            .get_call_entry(apb::GetCallEntryRequest {
                call_id: "c-1".into(),
            })
            .await
            .expect("entry")
            .into_inner();
        assert_eq!(entry.text, "Wants 20 licences");
        assert_eq!(entry.links.unwrap().contact_id, contact.id);
        // Both agents were shown Иван's card, and the trail says so.
        let staff = setup.staff();
        let shown = support::eventually("the cards shown in the audit trail", || async {
            let lines = staff.audit_of("card_shown").await;
            let mut seen: Vec<(String, String)> = lines
                .into_iter()
                .filter(|l| l.detail.contains("call c-1"))
                .map(|l| (l.actor, l.subject))
                .collect();
            seen.sort();
            (seen.len() >= 2).then_some(seen)
        })
        .await;
        let by = |agent: &str| (agent.to_owned(), contact.id.clone());
        assert_eq!(shown, [by("ivan"), by("olga")], "once each");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let later = staff.audit_of("card_shown").await;
        let later = later
            .iter()
            .filter(|l| l.detail.contains("call c-1"))
            .count();
        assert_eq!(later, 2, "and no more");
        silent(&mut olga).await;
        setup.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_number_pops_a_new_lead_card_and_makes_one_lead() {
    for setup in setups().await {
        seed(&setup).await;
        let mut olga = connect(&setup, "olga").await;
        let mut ivan = connect(&setup, "ivan").await;
        ringing(&setup, "c-2", "+79990001122", "101").await;
        ringing(&setup, "c-2", "+79990001122", "102").await;
        let card = next_of(&mut olga, "card").await["card"].clone();
        assert_eq!(card["new_lead"], true, "{card}");
        assert_eq!(card["client_kind"], "lead");
        let theirs = next_of(&mut ivan, "card").await["card"].clone();
        assert_eq!(theirs["client_id"], card["client_id"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            setup.contacts().count("leads").await,
            1,
            "one lead however many services asked"
        );

        // A client that reconnects while it still rings gets the card again.
        drop(olga);
        let mut again = connect(&setup, "olga").await;
        let card = next_of(&mut again, "card").await["card"].clone();
        assert_eq!(card["call_id"], "c-2");
        setup.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_socket_needs_a_valid_token_and_refuses_bad_frames() {
    for setup in setups().await {
        let suite = setup.notifications();
        let addr = suite.running.http_addr;
        assert!(socket::open(addr, &[]).await.is_err(), "no token");
        let forged = [("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.AAAA")];
        assert!(socket::open(addr, &forged).await.is_err(), "forged token");
        let mut ws = connect(&setup, "olga").await;
        for frame in [
            "not json",
            r#"{"type":"note","call_id":"c-9","text":"x","admin":true}"#,
            r#"{"type":"note","call_id":"never-seen","text":"x"}"#,
        ] {
            ws.send(tungstenite::Message::Text(frame.into()))
                .await
                .expect("send");
            let reply = next_of(&mut ws, "error").await;
            assert!(
                reply["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{frame}: {reply}"
            );
        }
        assert_eq!(setup.contacts().count("activity_entries").await, 0);
        setup.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_task_reminds_its_assignee_on_their_socket() {
    for setup in setups().await {
        seed(&setup).await;
        let mut olga = connect(&setup, "olga").await;
        let soon = ringside_storage::now_millis() + 500;
        let at = time::OffsetDateTime::from_unix_timestamp(soon / 1000).unwrap();
        let due = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let task = apb::CreateTaskRequest {
            title: "Call Ivan back".into(),
            due_at: due,
            ..Default::default()
        };
        let mut activities = setup.activities().activities("olga").await;
        let task = activities
            .create_task(task)
            .await
            .expect("task")
            .into_inner();
        let push = next_of(&mut olga, "task_due").await;
        assert_eq!(
            push["task_id"],
            task.id.as_str(),
            "{}",
            setup.notifications().name
        );
        assert_eq!(push["title"], "Call Ivan back");
        setup.stop().await;
    }
}

/// The agent console in a real browser: sign in with a password, a ringing call pops the
/// seeded client's card in the call bar, which keeps it (and a note being typed) when
/// the agent goes to another page; answering elsewhere closes another agent's pop-up,
/// and a note typed into the card lands on the call's timeline entry; signing out
/// ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_bar_pops_the_card_keeps_it_across_pages_and_files_the_note() {
    if !support::browser::present() {
        return;
    }
    for setup in setups().await {
        let name = setup.notifications().name;
        let contact = seed(&setup).await;
        let browser = support::browser::Browser::start().await;
        let console = format!(
            "http://{}/",
            support::pages(&setup.suites).running.http_addr
        );
        setup.staff().set_password("olga").await;
        browser.sign_in(&console, "olga", "Ольга").await;

        ringing(&setup, "b-1", IVAN_PHONE, "101").await;
        let card = r#".card[data-call-id="b-1"]"#;
        browser
            .wait_text(&format!("{card} .name"), |t| t == "Иван Петров")
            .await;
        let recent = browser
            .wait_text(card, |t| t.contains("Asked for the price list"))
            .await;
        assert!(recent.contains("Send the offer"), "{name}: {recent}");
        assert!(recent.contains("20 licences — New"), "{name}: {recent}");
        // The lost deal is not listed among the open ones (its move is in "Recent").
        assert!(!recent.contains("Old deal, lost — "), "{name}: {recent}");

        browser
            .type_into(&format!("{card} .note"), "Called about the invoice")
            .await;
        // Another page, loaded anew: the card comes back with the note as it was typed.
        browser.goto(&format!("{console}search")).await;
        browser
            .wait_text(&format!("{card} .name"), |t| t == "Иван Петров")
            .await;
        let kept = browser
            .execute(
                "return document.querySelector(arguments[0]).value",
                serde_json::json!([format!("{card} .note")]),
            )
            .await;
        assert_eq!(kept, "Called about the invoice", "{name}");
        let link = browser
            .execute(
                "return document.querySelector(arguments[0]).getAttribute('href')",
                serde_json::json!([format!("{card} .open-client")]),
            )
            .await;
        assert_eq!(link, format!("/contacts/{}", contact.id), "{name}");
        let violations = browser.accessibility_violations().await;
        assert!(violations.is_empty(), "{name}: {violations:#?}");
        // The wrap-up sets a follow-up too.
        browser
            .follow_up(card, "Send the invoice", "2031-01-10T09:00")
            .await;
        let entry = setup
            .activities()
            .activities("olga")
            .await
            .get_call_entry(apb::GetCallEntryRequest {
                call_id: "b-1".into(),
            })
            .await
            .expect("call entry")
            .into_inner();
        assert_eq!(entry.text, "Called about the invoice", "{name}");
        let tasks = setup
            .activities()
            .activities("olga")
            .await
            .list_tasks(apb::ListTasksRequest {
                subject: Some(apb::Subject {
                    subject: Some(apb::subject::Subject::ContactId(contact.id.clone())),
                }),
                ..Default::default()
            })
            .await
            .expect("tasks")
            .into_inner()
            .tasks;
        let follow_up = tasks.iter().find(|t| t.title == "Send the invoice");
        let follow_up = follow_up.unwrap_or_else(|| panic!("{name}: no follow-up in {tasks:?}"));
        assert_eq!(follow_up.assignee_id, "olga", "{name}");
        assert_eq!(
            follow_up.r#type,
            i32::from(apb::TaskType::CallBack),
            "{name}"
        );

        // Ivan answers at 102 for a second call: Olga's pop-up of it goes away.
        ringing(&setup, "b-2", IVAN_PHONE, "101").await;
        ringing(&setup, "b-2", IVAN_PHONE, "102").await;
        let second = r#".card[data-call-id="b-2"] .name"#;
        browser.wait_text(second, |t| t == "Иван Петров").await;
        let answered = EventPayload::CallAnswered(ev::CallAnswered {
            call: parties("b-2", IVAN_PHONE),
            extension: "102".into(),
            answered_at: None,
        });
        publish(&setup, answered).await;
        browser.wait_gone(second).await;

        // Signing out ends the session: the browser is back at the sign-in page, and
        // the console sends it there again.
        browser.click("#user-menu").await;
        browser.click("#signout").await;
        browser
            .wait_text("#signin-button", |t| t == "Sign in")
            .await;
        browser.goto(&console).await;
        browser
            .wait_text("#signin-button", |t| t == "Sign in")
            .await;
        browser.quit().await;
        setup.stop().await;
    }
}

/// People are set up once, in staff: a missed call at an extension known only there
/// becomes a call-back task for the agent who sits at it (activities asks staff — in
/// process, or over gRPC `FindUser` — before its configuration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_call_is_called_back_by_the_agent_staff_knows_at_the_extension() {
    for setup in setups().await {
        let name = setup.notifications().name;
        let vera = Person {
            extensions: &["105"],
            ..Person::new("vera", "Вера")
        };
        setup.staff().hire(&[vera]).await;
        let missed = EventPayload::CallMissed(ev::CallMissed {
            call: parties("m-1", "+79990001122"),
            extensions: vec!["105".into()],
            outcome: ev::CallOutcome::Missed as i32,
        });
        publish(&setup, missed).await;
        let mut activities = setup.activities().activities("vera").await;
        let task = support::eventually("vera's call-back task", || {
            let mut activities = activities.clone();
            async move {
                let mine = apb::ListTasksRequest {
                    assignee_id: "me".into(),
                    ..Default::default()
                };
                let tasks = activities.list_tasks(mine).await.ok()?.into_inner().tasks;
                tasks.into_iter().next()
            }
        })
        .await;
        assert_eq!(task.r#type, apb::TaskType::CallBack as i32, "{name}");
        assert_eq!(task.extension, "105", "{name}");
        let entry = activities
            .get_call_entry(apb::GetCallEntryRequest {
                call_id: "m-1".into(),
            })
            .await
            .expect("entry")
            .into_inner();
        assert!(entry.summary.contains("105"), "{name}: {}", entry.summary);
        setup.stop().await;
    }
}
