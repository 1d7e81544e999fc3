//! The activities service as a client and the bus see it, in both ways of running:
//! all-in-one (SQLite, local bus) and `serve contacts` + `serve activities` on
//! PostgreSQL and RabbitMQ, activities asking contacts over gRPC.

use std::time::Duration;

use ringside_bus::{EventPayload, Message, new_envelope};
use ringside_proto::activities::v1 as pb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::events::v1 as ev;
use ringside_storage::now_millis;
use support::{Suite, eventually};
use tonic::Code;

const CALLER: &str = "+79123456789";

/// Contacts and activities: one all-in-one suite, or two services.
struct Setup {
    contacts: Suite,
    activities: Option<Suite>,
}

impl Setup {
    fn act(&self) -> &Suite {
        self.activities.as_ref().unwrap_or(&self.contacts)
    }

    fn name(&self) -> &'static str {
        self.act().name
    }

    async fn publish(&self, envelope: &ringside_bus::Envelope) {
        let message = Message::from_envelope(envelope);
        self.act()
            .running
            .bus
            .publish(&[message])
            .await
            .expect("publish");
    }

    async fn stop(self) {
        if let Some(a) = self.activities {
            a.stop().await;
        }
        self.contacts.stop().await;
    }
}

async fn setups() -> Vec<Setup> {
    let agents =
        |s: &mut ringside::config::Settings| s.agent_extensions = "olga=101;ivan=102".into();
    let mut setups = vec![Setup {
        contacts: support::all_in_one_with(agents).await,
        activities: None,
    }];
    if let Some((contacts, activities)) = support::contacts_and_activities().await {
        setups.push(Setup {
            contacts,
            activities: Some(activities),
        });
    }
    for setup in &setups {
        let people = [
            support::Person::new("olga", "Ольга"),
            support::Person::new("ivan", "Иван"),
        ];
        setup.contacts.hire(&people).await;
    }
    setups
}

async fn seed_contact(setup: &Setup, name: &str, phone: &str, owner: &str) -> cpb::Contact {
    let mut contacts = setup.contacts.client().await;
    contacts
        .create_contact(cpb::CreateContactRequest {
            name: name.into(),
            owner_id: owner.into(),
            identities: vec![cpb::Identity {
                kind: cpb::IdentityKind::Phone as i32,
                value: phone.into(),
            }],
            ..Default::default()
        })
        .await
        .expect("create contact")
        .into_inner()
}

fn missed_call(call_id: &str, caller: &str, extension: &str) -> ringside_bus::Envelope {
    new_envelope(
        "ingest",
        call_id,
        EventPayload::CallMissed(ev::CallMissed {
            call: Some(ev::CallParties {
                call_id: call_id.into(),
                direction: ev::CallDirection::Inbound as i32,
                caller: caller.into(),
                callee: "+74951234567".into(),
                rang_at: Some(ringside_proto::timestamp_from_millis(now_millis())),
            }),
            extensions: vec![extension.into()],
            outcome: ev::CallOutcome::Missed as i32,
        }),
    )
}

fn contact_subject(id: &str) -> Option<pb::Subject> {
    Some(pb::Subject {
        subject: Some(pb::subject::Subject::ContactId(id.into())),
    })
}

async fn tasks_of(client: &mut support::Activities, assignee: &str) -> Vec<pb::Task> {
    client
        .list_tasks(pb::ListTasksRequest {
            assignee_id: assignee.into(),
            ..Default::default()
        })
        .await
        .expect("list tasks")
        .into_inner()
        .tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_call_on_the_bus_becomes_a_call_entry_and_a_call_back_task() {
    for setup in setups().await {
        let name = setup.name();
        let ivan = seed_contact(&setup, "Иван Петров", CALLER, "olga").await;
        let mut olga = setup.act().activities("olga").await;
        let mut filed = setup.act().watch(&["call.filed"]).await;
        let call = missed_call("sip-call-1", "8 912 345 67 89", "102");
        setup.publish(&call).await;
        let tasks = eventually("the call-back task", || {
            let mut c = olga.clone();
            async move { Some(tasks_of(&mut c, "me").await).filter(|t| !t.is_empty()) }
        })
        .await;
        assert_eq!(tasks.len(), 1, "{name}");
        assert_eq!(tasks[0].r#type(), pb::TaskType::CallBack, "{name}");
        assert_eq!(
            tasks[0].links.as_ref().unwrap().contact_id,
            ivan.id,
            "{name}"
        );

        let entry = olga
            .get_call_entry(pb::GetCallEntryRequest {
                call_id: "sip-call-1".into(),
            })
            .await
            .expect("call entry")
            .into_inner();
        assert_eq!(entry.links.as_ref().unwrap().contact_id, ivan.id, "{name}");
        let Some(pb::entry::Detail::Call(detail)) = &entry.detail else {
            panic!("{name}: call detail")
        };
        assert_eq!(detail.outcome(), pb::CallOutcome::Missed, "{name}");
        // Filing the end of the call is announced, with the entry an agent's card
        // links to.
        let announced = tokio::time::timeout(Duration::from_secs(10), filed.next())
            .await
            .ok()
            .flatten()
            .expect("call.filed");
        let envelope = announced.message.decode().expect("an envelope");
        announced.acker.ack().await.expect("ack");
        let Some(EventPayload::CallFiled(f)) = envelope.payload else {
            panic!("{name}: call.filed, got {:?}", envelope.payload)
        };
        assert_eq!(
            (f.call_id.as_str(), f.entry_id),
            ("sip-call-1", entry.id.clone()),
            "{name}"
        );

        // The same event delivered again (a publisher retry): nothing doubles.
        setup.publish(&call).await;
        setup
            .publish(&missed_call("sip-call-2", CALLER, "101"))
            .await;
        let timeline = eventually("the second call", || {
            let mut c = olga.clone();
            let subject = contact_subject(&ivan.id);
            async move {
                let req = pb::TimelineRequest {
                    subject,
                    ..Default::default()
                };
                let entries = c
                    .timeline(req)
                    .await
                    .expect("timeline")
                    .into_inner()
                    .entries;
                (entries.len() >= 2).then_some(entries)
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(timeline.len(), 2, "{name}: one entry per call");
        assert_eq!(
            tasks_of(&mut olga, "me").await.len(),
            1,
            "{name}: one open call-back"
        );
        setup.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_filter_clients_without_an_open_task_and_with_overdue_ones() {
    for setup in setups().await {
        let name = setup.name();
        let late = seed_contact(&setup, "Late", "+79120000001", "olga").await;
        let forgotten = seed_contact(&setup, "Forgotten", "+79120000002", "olga").await;
        let mut olga = setup.act().activities("olga").await;
        let overdue = pb::CreateTaskRequest {
            title: "Send the offer".into(),
            due_at: "2026-01-05T10:00:00+03:00".into(),
            links: Some(pb::Links {
                contact_id: late.id.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let task = olga.create_task(overdue).await.expect("task").into_inner();
        assert!(task.overdue, "{name}");
        assert_eq!(task.assignee_id, "olga", "{name}: the caller by default");

        let list = |filter: pb::SubjectFilter| {
            let mut c = olga.clone();
            async move {
                let req = pb::ListSubjectsRequest {
                    kind: pb::SubjectKind::Contact as i32,
                    filter: filter as i32,
                    owner_id: "olga".into(),
                    ..Default::default()
                };
                let subjects = c
                    .list_subjects(req)
                    .await
                    .expect("subjects")
                    .into_inner()
                    .subjects;
                subjects.into_iter().map(|s| s.id).collect::<Vec<_>>()
            }
        };
        // contact.created reaches activities through the bus: wait for it.
        let none = eventually("contacts known to activities", || async {
            Some(list(pb::SubjectFilter::NoOpenTask).await).filter(|l| !l.is_empty())
        })
        .await;
        assert_eq!(none, vec![forgotten.id.clone()], "{name}");
        assert_eq!(
            list(pb::SubjectFilter::Overdue).await,
            vec![late.id.clone()],
            "{name}"
        );
        setup.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_write_nothing() {
    for setup in setups().await {
        let name = setup.name();
        let ivan = seed_contact(&setup, "Иван", CALLER, "olga").await;
        let mut olga = setup.act().activities("olga").await;
        let on_ivan = Some(pb::Links {
            contact_id: ivan.id.clone(),
            ..Default::default()
        });
        let task = |title: &str, due: &str, links: Option<pb::Links>| pb::CreateTaskRequest {
            title: title.into(),
            due_at: due.into(),
            links,
            ..Default::default()
        };
        let unknown = Some(pb::Links {
            contact_id: "0190f0f0-0000-7000-8000-000000000000".into(),
            ..Default::default()
        });
        let cases = [
            (
                "due time in another format",
                task("Call", "tomorrow 10am", on_ivan.clone()),
                Code::InvalidArgument,
            ),
            (
                "empty title",
                task(" ", "2026-12-01T10:00:00Z", on_ivan.clone()),
                Code::InvalidArgument,
            ),
            (
                "unknown contact",
                task("Call", "2026-12-01T10:00:00Z", unknown.clone()),
                Code::NotFound,
            ),
            (
                "unknown task type",
                pb::CreateTaskRequest {
                    r#type: 42,
                    ..task("Call", "2026-12-01T10:00:00Z", on_ivan.clone())
                },
                Code::InvalidArgument,
            ),
        ];
        for (case, req, code) in cases {
            let err = olga.create_task(req).await.expect_err(case);
            assert_eq!(err.code(), code, "{name}: {case}: {}", err.message());
        }
        let err = olga
            .add_note(pb::AddNoteRequest {
                links: unknown,
                text: "hello".into(),
            })
            .await
            .expect_err("note on unknown contact");
        assert_eq!(err.code(), Code::NotFound, "{name}");
        let err = olga
            .timeline(pb::TimelineRequest {
                subject: contact_subject(&ivan.id),
                page_token: "garbage".into(),
                ..Default::default()
            })
            .await
            .expect_err("bad page token");
        assert_eq!(err.code(), Code::InvalidArgument, "{name}");
        let mut anonymous =
            ringside_proto::activities::v1::activities_client::ActivitiesClient::new(
                setup.act().channel().await,
            );
        let err = anonymous
            .list_tasks(pb::ListTasksRequest::default())
            .await
            .expect_err("no token");
        assert_eq!(err.code(), Code::Unauthenticated, "{name}");
        assert_eq!(setup.act().count("activity_tasks").await, 0, "{name}");
        assert_eq!(setup.act().count("activity_entries").await, 0, "{name}");

        // The note typed by its author lands on the timeline; others may not edit it:
        // an agent who does not see the client does not find it, an admin who does
        // may still not change another's words.
        let note = olga
            .add_note(pb::AddNoteRequest {
                links: on_ivan,
                text: "Prefers mornings".into(),
            })
            .await
            .expect("note")
            .into_inner();
        let mut ivan_agent = setup.act().activities("ivan").await;
        let err = ivan_agent
            .edit_note(pb::EditNoteRequest {
                id: note.id.clone(),
                text: "x".into(),
            })
            .await
            .expect_err("not the author");
        assert_eq!(err.code(), Code::NotFound, "{name}");
        let mut admin = setup
            .act()
            .activities_member("test-admin", ringside_auth::Role::Admin, &[])
            .await;
        let err = admin
            .edit_note(pb::EditNoteRequest {
                id: note.id.clone(),
                text: "x".into(),
            })
            .await
            .expect_err("not the author");
        assert_eq!(err.code(), Code::PermissionDenied, "{name}");
        setup.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_goes_out_once_on_the_bus() {
    for setup in setups().await {
        let name = setup.name();
        let mut watch = setup.act().watch(&["task.due"]).await;
        let mut olga = setup.act().activities("olga").await;
        let soon = ringside_proto::timestamp_from_millis(now_millis() + 800);
        let at = time::OffsetDateTime::from_unix_timestamp(soon.seconds).unwrap();
        let due = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let req = pb::CreateTaskRequest {
            title: "Call Ivan".into(),
            due_at: due,
            ..Default::default()
        };
        let task = olga.create_task(req).await.expect("task").into_inner();
        let delivery = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .unwrap_or_else(|_| panic!("{name}: no task.due"))
            .expect("a delivery");
        let envelope = delivery.message.decode().expect("envelope");
        delivery.acker.ack().await.expect("ack");
        let Some(EventPayload::TaskDue(due)) = envelope.payload else {
            panic!("{name}: payload")
        };
        assert_eq!(due.task.unwrap().id, task.id, "{name}");
        let again = tokio::time::timeout(Duration::from_millis(2500), watch.next()).await;
        assert!(again.is_err(), "{name}: the reminder fired twice");
        setup.stop().await;
    }
}

/// Contacts is down when the first missed call arrives: activities cannot ask who is
/// calling and keeps the delivery (retrying with backoff) instead of dropping or
/// dead-lettering it; once contacts is up the call lands — once, even when RabbitMQ
/// delivers the same event again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_event_waits_out_a_contacts_outage_and_lands_once() {
    let Some(db) = ringside_storage::testing::postgres().await else {
        return;
    };
    let Some(amqp) = ringside_storage::testing::server_url(ringside_storage::testing::AMQP_URL_VAR)
    else {
        return;
    };
    // A port for contacts, reserved and released: nothing answers there yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (contacts, activities) = support::pair_with_late_contacts(db, &amqp, port).await;
    let setup_publish = Message::from_envelope(&missed_call("late-1", CALLER, "101"));
    activities
        .running
        .bus
        .publish(std::slice::from_ref(&setup_publish))
        .await
        .expect("publish");
    // Longer than five quick redeliveries would take (~3 s): those would have sent
    // the event to the dead-letter queue.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        activities.count("activity_entries").await,
        0,
        "nothing lands while contacts is down"
    );
    let contacts = contacts.start().await;
    let mut olga = activities.activities("olga").await;
    let tasks = eventually("the call-back task after redelivery", || {
        let mut c = olga.clone();
        async move { Some(tasks_of(&mut c, "me").await).filter(|t| !t.is_empty()) }
    })
    .await;
    assert_eq!(tasks.len(), 1);
    activities
        .running
        .bus
        .publish(&[setup_publish])
        .await
        .expect("publish again");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(activities.count("activity_entries").await, 1);
    assert_eq!(tasks_of(&mut olga, "me").await.len(), 1);
    assert_eq!(
        activities.count("leads").await,
        1,
        "the stranger became one lead"
    );
    activities.stop().await;
    contacts.stop().await;
}
