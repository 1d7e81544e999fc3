//! The activities service's conformance suite: every scenario runs on SQLite and, when
//! `RINGSIDE_TEST_DATABASE_URL` is set, on PostgreSQL — with the real contacts service
//! answering who a caller is, and contacts' own events fed to the consumer.

mod common;

use common::*;
use ringside_activities::ActivitiesError;
use ringside_activities::model::{
    Ctx, Detail, EntryKind, InboxOwner, InboxQuery, Links, NewTask, Page, Subject, SubjectFilter,
    SubjectKind, TaskFilter, TaskPatch, TaskStatus, TaskType,
};
use ringside_bus::EventPayload;
use ringside_proto::activities::v1 as pb;
use ringside_proto::events::v1 as ev;
use ringside_storage::now_millis;
use ringside_storage::testing::all_backends;

const HOUR: i64 = 3_600_000;

fn todo(title: &str, due_at: i64, links: Links) -> NewTask {
    NewTask {
        title: title.into(),
        task_type: TaskType::Todo,
        assignee_id: String::new(),
        due_at,
        remind_at: None,
        links,
    }
}

#[tokio::test]
async fn notes_are_edited_with_history_and_only_by_their_author() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let ivan = h.contact("Иван", "+79123456789", "olga").await;
        let note = h
            .svc
            .add_note(
                &ctx("olga"),
                on_contact(&ivan.id),
                "Wants a demo\non Friday",
            )
            .await
            .expect("note");
        assert_eq!(note.summary, "Wants a demo", "{b:?}");

        let err = h
            .svc
            .edit_note(&ctx("ivan"), &note.id, "mine now")
            .await
            .unwrap_err();
        assert!(
            matches!(err, ActivitiesError::PermissionDenied(_)),
            "{b:?}: {err}"
        );
        let err = h.svc.delete_note(&ctx("ivan"), &note.id).await.unwrap_err();
        assert!(
            matches!(err, ActivitiesError::PermissionDenied(_)),
            "{b:?}: {err}"
        );

        h.svc
            .edit_note(&ctx("olga"), &note.id, "Demo moved to Monday")
            .await
            .expect("edit");
        h.svc
            .edit_note(&ctx("olga"), &note.id, "Demo done")
            .await
            .expect("edit");
        let history = h
            .svc
            .note_history(&ctx("admin"), &note.id)
            .await
            .expect("history");
        let texts: Vec<&str> = history.iter().map(|r| r.body.as_str()).collect();
        assert_eq!(
            texts,
            ["Wants a demo\non Friday", "Demo moved to Monday"],
            "{b:?}"
        );

        let subject = Subject::Contact(ivan.id.clone());
        let line = h
            .svc
            .timeline(&ctx("admin"), &subject, &[], None, page(10))
            .await
            .expect("timeline");
        assert_eq!(line.items.len(), 1, "{b:?}");
        assert_eq!(line.items[0].body, "Demo done", "{b:?}");

        h.svc
            .delete_note(&ctx("olga"), &note.id)
            .await
            .expect("delete");
        let line = h
            .svc
            .timeline(&ctx("admin"), &subject, &[], None, page(10))
            .await
            .expect("timeline");
        assert!(
            line.items.is_empty(),
            "{b:?}: a deleted note left the timeline"
        );
        let err = h
            .svc
            .edit_note(&ctx("olga"), &note.id, "again")
            .await
            .unwrap_err();
        assert!(
            matches!(err, ActivitiesError::FailedPrecondition(_)),
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn bad_input_is_refused_and_writes_nothing() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let ivan = h.contact("Иван", "+79123456789", "olga").await;
        let outbox = h.count("outbox").await;
        let unknown = on_contact("0190f0f0-0000-7000-8000-000000000000");
        let deal = Links {
            deal_id: Some("no-such-deal".into()),
            ..Links::default()
        };
        let cases: Vec<(&str, ActivitiesError)> = vec![
            (
                "note on unknown contact",
                h.svc
                    .add_note(&ctx("olga"), unknown.clone(), "hi")
                    .await
                    .unwrap_err(),
            ),
            (
                "note on unknown deal",
                h.svc
                    .add_note(&ctx("olga"), deal.clone(), "hi")
                    .await
                    .unwrap_err(),
            ),
            (
                "note without text",
                h.svc
                    .add_note(&ctx("olga"), on_contact(&ivan.id), "  ")
                    .await
                    .unwrap_err(),
            ),
            (
                "note about nobody",
                h.svc
                    .add_note(&ctx("olga"), Links::default(), "hi")
                    .await
                    .unwrap_err(),
            ),
            (
                "note with a NUL",
                h.svc
                    .add_note(&ctx("olga"), on_contact(&ivan.id), "a\0b")
                    .await
                    .unwrap_err(),
            ),
            (
                "task with empty title",
                h.svc
                    .create_task(&ctx("olga"), todo(" ", now_millis(), on_contact(&ivan.id)))
                    .await
                    .unwrap_err(),
            ),
            (
                "task on unknown contact",
                h.svc
                    .create_task(&ctx("olga"), todo("Call", now_millis(), unknown))
                    .await
                    .unwrap_err(),
            ),
            (
                "task on unknown deal",
                h.svc
                    .create_task(&ctx("olga"), todo("Call", now_millis(), deal))
                    .await
                    .unwrap_err(),
            ),
        ];
        for (case, err) in cases {
            let expected = match case {
                c if c.contains("unknown") => matches!(err, ActivitiesError::NotFound { .. }),
                _ => matches!(err, ActivitiesError::Invalid(_)),
            };
            assert!(expected, "{b:?}: {case}: {err}");
        }
        assert_eq!(h.count("activity_entries").await, 0, "{b:?}");
        assert_eq!(h.count("activity_tasks").await, 0, "{b:?}");
        assert_eq!(h.count("outbox").await, outbox, "{b:?}");
    }
}

#[tokio::test]
async fn timelines_page_newest_first_and_filter_by_kind() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let ivan = h.contact("Иван", "+79123456789", "olga").await;
        let other = h.contact("Пётр", "+79123456700", "olga").await;
        for i in 0..30 {
            h.svc
                .add_note(&ctx("olga"), on_contact(&ivan.id), &format!("note {i}"))
                .await
                .expect("note");
        }
        h.svc
            .add_note(&ctx("olga"), on_contact(&other.id), "not Ivan's")
            .await
            .expect("note");
        for i in 0..5 {
            let call = format!("call-{i}");
            h.deliver(&ringing(&call, "+79123456789", "101")).await;
        }
        let subject = Subject::Contact(ivan.id.clone());
        let mut seen = Vec::new();
        let mut page = Page {
            size: 7,
            after: None,
        };
        loop {
            let got = h
                .svc
                .timeline(&ctx("admin"), &subject, &[], None, page.clone())
                .await
                .expect("page");
            seen.extend(got.items);
            match got.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 35, "{b:?}");
        let keys: Vec<(i64, String)> = seen.iter().map(|e| (e.occurred_at, e.id.clone())).collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        sorted.dedup();
        assert_eq!(keys, sorted, "{b:?}: newest first, no repeats");
        let calls = h
            .svc
            .timeline(
                &ctx("admin"),
                &subject,
                &[EntryKind::Call],
                None,
                Page {
                    size: 50,
                    after: None,
                },
            )
            .await
            .expect("calls");
        assert_eq!(calls.items.len(), 5, "{b:?}");
        assert!(
            calls.items.iter().all(|e| e.kind == EntryKind::Call),
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn tasks_answer_my_overdue_range_and_next_action_queries() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let ivan = h.contact("Иван", "+79123456789", "olga").await;
        let now = now_millis();
        let late = h
            .svc
            .create_task(
                &ctx("olga"),
                todo("Send offer", now - HOUR, on_contact(&ivan.id)),
            )
            .await
            .expect("task");
        let soon = h
            .svc
            .create_task(&ctx("olga"), todo("Call", now + HOUR, on_contact(&ivan.id)))
            .await
            .expect("task");
        let theirs = NewTask {
            assignee_id: "ivan".into(),
            ..todo("Meet", now + 3 * HOUR, Links::default())
        };
        h.svc.create_task(&ctx("olga"), theirs).await.expect("task");

        let mine = TaskFilter {
            assignee_id: Some("olga".into()),
            ..Default::default()
        };
        let ids = |p: ringside_activities::model::Paged<ringside_activities::model::Task>| {
            p.items.into_iter().map(|t| t.title).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(h
                .svc
                .list_tasks(&ctx("admin"), mine.clone(), page(10))
                .await
                .unwrap()),
            ["Send offer", "Call"],
            "{b:?}"
        );
        let overdue = TaskFilter {
            overdue_only: true,
            ..Default::default()
        };
        assert_eq!(
            ids(h
                .svc
                .list_tasks(&ctx("admin"), overdue, page(10))
                .await
                .unwrap()),
            ["Send offer"],
            "{b:?}"
        );
        let range = TaskFilter {
            due_from: Some(now),
            due_to: Some(now + 2 * HOUR),
            ..Default::default()
        };
        assert_eq!(
            ids(h
                .svc
                .list_tasks(&ctx("admin"), range, page(10))
                .await
                .unwrap()),
            ["Call"],
            "{b:?}"
        );

        let subject = Subject::Contact(ivan.id.clone());
        assert_eq!(
            h.svc
                .next_action(&ctx("admin"), &subject)
                .await
                .unwrap()
                .map(|t| t.id),
            Some(late.id.clone()),
            "{b:?}"
        );
        h.svc
            .complete_task(&ctx("olga"), &late.id)
            .await
            .expect("done");
        assert_eq!(
            h.svc
                .next_action(&ctx("admin"), &subject)
                .await
                .unwrap()
                .map(|t| t.id),
            Some(soon.id.clone()),
            "{b:?}"
        );
        let err = h
            .svc
            .complete_task(&ctx("olga"), &late.id)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ActivitiesError::FailedPrecondition(_)),
            "{b:?}: closing twice"
        );

        let line = h
            .svc
            .timeline(
                &ctx("admin"),
                &subject,
                &[EntryKind::System],
                None,
                page(10),
            )
            .await
            .unwrap();
        assert_eq!(line.items.len(), 1, "{b:?}: task done is on the timeline");
        assert!(line.items[0].summary.contains("Send offer"), "{b:?}");

        let moved = TaskPatch {
            due_at: Some(now + 5 * HOUR),
            ..Default::default()
        };
        h.svc
            .update_task(&ctx("olga"), &soon.id, moved)
            .await
            .expect("reschedule");
        h.svc
            .cancel_task(&ctx("olga"), &soon.id)
            .await
            .expect("cancel");
        assert_eq!(
            h.svc.next_action(&ctx("admin"), &subject).await.unwrap(),
            None,
            "{b:?}"
        );
        let changes: Vec<Option<String>> = h
            .events("next_action.changed")
            .await
            .into_iter()
            .map(|e| match e.payload {
                Some(EventPayload::NextActionChanged(n)) => n.task.map(|t| t.title),
                _ => panic!("payload"),
            })
            .collect();
        let expected = [Some("Send offer"), Some("Call"), Some("Call"), None];
        assert_eq!(changes, expected.map(|t| t.map(str::to_owned)), "{b:?}");
    }
}

#[tokio::test]
async fn manager_filters_find_clients_without_an_open_task_and_with_overdue_ones() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let now = now_millis();
        let late = h.contact("Late", "+79120000001", "olga").await;
        let planned = h.contact("Planned", "+79120000002", "olga").await;
        let forgotten = h.contact("Forgotten", "+79120000003", "olga").await;
        let others = h.contact("Someone else's", "+79120000004", "ivan").await;
        let gone = h.contact("Gone", "+79120000005", "olga").await;
        h.contacts
            .delete_contact(
                &ringside_contacts::model::Ctx {
                    actor: "a".into(),
                    correlation_id: "c".into(),
                    ..Default::default()
                },
                &gone.id,
            )
            .await
            .expect("delete");
        h.pump().await;
        h.svc
            .create_task(
                &ctx("olga"),
                todo("Overdue", now - HOUR, on_contact(&late.id)),
            )
            .await
            .unwrap();
        h.svc
            .create_task(
                &ctx("olga"),
                todo("Later", now + HOUR, on_contact(&late.id)),
            )
            .await
            .unwrap();
        h.svc
            .create_task(
                &ctx("olga"),
                todo("Planned", now + HOUR, on_contact(&planned.id)),
            )
            .await
            .unwrap();

        let list = |filter, owner: Option<&'static str>| {
            let svc = h.svc.clone();
            async move {
                let got = svc
                    .list_subjects(&ctx("admin"), SubjectKind::Contact, filter, owner, page(50))
                    .await
                    .unwrap();
                got.items.into_iter().map(|s| s.id).collect::<Vec<_>>()
            }
        };
        let mut none = list(SubjectFilter::NoOpenTask, None).await;
        none.sort();
        let mut expected = vec![forgotten.id.clone(), others.id.clone()];
        expected.sort();
        assert_eq!(
            none, expected,
            "{b:?}: no open task (deleted contacts are not listed)"
        );
        assert_eq!(
            list(SubjectFilter::NoOpenTask, Some("olga")).await,
            vec![forgotten.id.clone()],
            "{b:?}"
        );
        assert_eq!(
            list(SubjectFilter::Overdue, None).await,
            vec![late.id.clone()],
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn a_call_is_one_entry_updated_as_it_progresses_in_any_order() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let ivan = h.contact("Иван", "+79123456789", "olga").await;
        let caller = "+79123456789";
        // call.ended arrives before the second call.ringing: nothing is undone.
        for e in [
            ringing("c-1", caller, "101"),
            answered("c-1", caller, "102"),
            ended("c-1", caller, "102", 125_000),
            ringing("c-1", caller, "102"),
        ] {
            h.deliver(&e).await;
        }
        let entry = h
            .svc
            .get_call_entry(&ctx("admin"), "c-1")
            .await
            .expect("call entry");
        assert_eq!(
            entry.links.contact_id.as_deref(),
            Some(ivan.id.as_str()),
            "{b:?}"
        );
        let Some(Detail::Call(call)) = &entry.detail else {
            panic!("call detail")
        };
        assert_eq!(call.extensions, ["101", "102"], "{b:?}");
        assert_eq!(call.answered_extension, "102", "{b:?}");
        assert_eq!(call.agent_id, "ivan", "{b:?}");
        assert_eq!(call.duration_ms, 125_000, "{b:?}");
        assert_eq!(call.outcome, pb::CallOutcome::Answered as i32, "{b:?}");
        assert_eq!(
            entry.summary, "Inbound call, answered at 102, 2m05s",
            "{b:?}"
        );
        assert_eq!(h.count("activity_entries").await, 1, "{b:?}");
        assert_eq!(
            h.count("activity_tasks").await,
            0,
            "{b:?}: answered calls make no task"
        );

        // The agent's note and outcome land on the call's entry; a second note keeps the first.
        h.svc
            .add_call_note(&ctx("ivan"), "c-1", "Wants a quote", "")
            .await
            .expect("note");
        let entry = h
            .svc
            .add_call_note(&ctx("ivan"), "c-1", "Quote sent", "sale")
            .await
            .expect("note");
        assert_eq!(entry.body, "Quote sent", "{b:?}");
        let Some(Detail::Call(call)) = &entry.detail else {
            panic!("call detail")
        };
        assert_eq!(call.agent_outcome, "sale", "{b:?}");
        let err = h
            .svc
            .add_call_note(&ctx("ivan"), "no-such-call", "x", "")
            .await
            .unwrap_err();
        assert!(matches!(err, ActivitiesError::NotFound { .. }), "{b:?}");
        let err = h
            .svc
            .add_call_note(&ctx("ivan"), "c-1", " ", "")
            .await
            .unwrap_err();
        assert!(matches!(err, ActivitiesError::Invalid(_)), "{b:?}");
    }
}

#[tokio::test]
async fn a_missed_call_makes_one_call_back_task_for_the_right_person() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let ivan = h.contact("Иван", "+79123456789", "olga").await;

        // A known client: the task goes to the owner, even though 102 (ivan) rang.
        let first = missed("m-1", "8 912 345-67-89", &["102"]);
        h.deliver(&first).await;
        h.deliver(&first).await; // a redelivery changes nothing
        let mine = TaskFilter {
            assignee_id: Some("olga".into()),
            ..Default::default()
        };
        let tasks = h
            .svc
            .list_tasks(&ctx("admin"), mine.clone(), page(10))
            .await
            .unwrap()
            .items;
        assert_eq!(tasks.len(), 1, "{b:?}");
        assert_eq!(tasks[0].task_type, TaskType::CallBack, "{b:?}");
        assert_eq!(tasks[0].created_by_rule, "missed_call", "{b:?}");
        assert_eq!(
            tasks[0].links.contact_id.as_deref(),
            Some(ivan.id.as_str()),
            "{b:?}"
        );
        let due_in = tasks[0].due_at - now_millis();
        assert!(
            (14 * 60_000..=15 * 60_000).contains(&due_in),
            "{b:?}: due in {due_in} ms"
        );

        // A second missed call while the call-back is open: no second task.
        h.deliver(&missed("m-2", "+79123456789", &["101"])).await;
        assert_eq!(h.count("activity_tasks").await, 1, "{b:?}");
        assert_eq!(
            h.count_where("activity_entries", "kind = 'call'").await,
            2,
            "{b:?}"
        );

        // A stranger: exactly one lead, and the task goes to the agent at the extension.
        h.deliver(&missed("m-3", "+79990001122", &["555", "102"]))
            .await;
        let leads = h
            .contacts
            .list_leads(
                &ringside_contacts::model::Ctx::default(),
                Default::default(),
                ringside_contacts::model::Page {
                    size: 10,
                    after: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(leads.items.len(), 1, "{b:?}");
        let theirs = TaskFilter {
            assignee_id: Some("ivan".into()),
            ..Default::default()
        };
        let tasks = h
            .svc
            .list_tasks(&ctx("admin"), theirs, page(10))
            .await
            .unwrap()
            .items;
        assert_eq!(tasks.len(), 1, "{b:?}");
        assert_eq!(
            tasks[0].links.lead_id.as_deref(),
            Some(leads.items[0].id.as_str()),
            "{b:?}"
        );
        assert_eq!(tasks[0].extension, "102", "{b:?}");

        // Nobody owns the client and no extension has an agent: unassigned, not lost.
        h.deliver(&missed("m-4", "+79990003344", &["555"])).await;
        let unassigned = TaskFilter {
            unassigned_only: true,
            ..Default::default()
        };
        assert_eq!(
            h.svc
                .list_tasks(&ctx("admin"), unassigned, page(10))
                .await
                .unwrap()
                .items
                .len(),
            1,
            "{b:?}"
        );
        assert_eq!(h.events("task.created").await.len(), 3, "{b:?}");
    }
}

#[tokio::test]
async fn racing_replicas_open_one_call_back_task_per_client() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        h.contact("Иван", "+79123456789", "olga").await;
        let second = Harness::activities(&h.t, &h.contacts);
        let consumers = [
            ringside_activities::Consumer::new(h.svc.clone()),
            ringside_activities::Consumer::new(second),
        ];
        let calls: Vec<_> = (0..20)
            .map(|i| missed(&format!("race-{i}"), "+79123456789", &["101"]))
            .collect();
        let runs = calls.iter().enumerate().map(|(i, e)| {
            use ringside_bus::consumer::Handler;
            consumers[i % 2].handle(e)
        });
        for r in futures::future::join_all(runs).await {
            r.expect("handled");
        }
        assert_eq!(h.count("activity_tasks").await, 1, "{b:?}");
        assert_eq!(
            h.count_where("activity_entries", "kind = 'call'").await,
            20,
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn merges_and_conversions_move_history_to_the_survivor() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let survivor = h.contact("Иван", "+79123456789", "olga").await;
        let dup = h.contact("Ваня", "+79123456000", "olga").await;
        h.svc
            .add_note(&ctx("olga"), on_contact(&dup.id), "on the duplicate")
            .await
            .unwrap();
        h.svc
            .create_task(
                &ctx("olga"),
                todo("Call", now_millis() + HOUR, on_contact(&dup.id)),
            )
            .await
            .unwrap();
        let cctx = ringside_contacts::model::Ctx {
            actor: "olga".into(),
            correlation_id: "m".into(),
            ..Default::default()
        };
        h.contacts
            .merge_contacts(&cctx, &survivor.id, &dup.id)
            .await
            .expect("merge");
        h.pump().await;
        let line = h
            .svc
            .timeline(
                &ctx("admin"),
                &Subject::Contact(survivor.id.clone()),
                &[],
                None,
                page(10),
            )
            .await
            .unwrap();
        let kinds: Vec<EntryKind> = line.items.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EntryKind::System, EntryKind::Note], "{b:?}");
        let next = h
            .svc
            .next_action(&ctx("admin"), &Subject::Contact(survivor.id.clone()))
            .await
            .unwrap();
        assert_eq!(next.map(|t| t.title).as_deref(), Some("Call"), "{b:?}");

        // A lead's missed call shows on the contact it converts into.
        h.deliver(&missed("l-1", "+79995550000", &["101"])).await;
        let call = h.svc.get_call_entry(&ctx("admin"), "l-1").await.unwrap();
        let lead_id = call.links.lead_id.clone().expect("linked to the new lead");
        let convert = ringside_contacts::ConvertLead {
            lead_id: lead_id.clone(),
            contact_name: "Новый клиент".into(),
            ..Default::default()
        };
        let (_, contact, _) = h
            .contacts
            .convert_lead(&cctx, convert)
            .await
            .expect("convert");
        h.pump().await;
        let line = h
            .svc
            .timeline(
                &ctx("admin"),
                &Subject::Contact(contact.id.clone()),
                &[],
                None,
                page(10),
            )
            .await
            .unwrap();
        let kinds: Vec<EntryKind> = line.items.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EntryKind::System, EntryKind::Call], "{b:?}");
        let next = h
            .svc
            .next_action(&ctx("admin"), &Subject::Contact(contact.id.clone()))
            .await
            .unwrap();
        assert_eq!(
            next.map(|t| t.task_type),
            Some(TaskType::CallBack),
            "{b:?}: the call-back follows"
        );
    }
}

fn email(id: &str, references: &[&str], text: &str, contact: &str) -> ringside_bus::Envelope {
    event(EventPayload::MessageReceived(ev::MessageReceived {
        message: Some(ev::ChannelMessage {
            message: Some(pb::MessageDetail {
                channel: pb::Channel::Email as i32,
                external_id: id.into(),
                subject: "Re: offer".into(),
                text: text.into(),
                ..Default::default()
            }),
            contact_id: contact.into(),
            references: references.iter().map(|r| (*r).to_owned()).collect(),
            ..Default::default()
        }),
    }))
}

#[tokio::test]
async fn messages_group_into_conversations_and_edits_keep_history() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let ivan = h.contact("Иван", "+79123456789", "olga").await;
        let first = email("<a@x>", &[], "Send me the offer", &ivan.id);
        h.deliver(&first).await;
        h.deliver(&first).await;
        h.deliver(&email("<b@x>", &["<a@x>"], "Thanks", &ivan.id))
            .await;
        h.deliver(&email(
            "<c@x>",
            &["<zzz@x>", "<b@x>"],
            "One more thing",
            &ivan.id,
        ))
        .await;
        h.deliver(&email("<d@x>", &[], "A new subject", &ivan.id))
            .await;
        let subject = Subject::Contact(ivan.id.clone());
        let conversations = h
            .svc
            .list_conversations(&ctx("admin"), &subject, page(10))
            .await
            .unwrap()
            .items;
        let sizes: Vec<i64> = conversations.iter().map(|c| c.entries).collect();
        assert_eq!(sizes, [1, 3], "{b:?}: newest conversation first");

        let telegram = |text: &str, edit: bool| {
            event(EventPayload::MessageReceived(ev::MessageReceived {
                message: Some(ev::ChannelMessage {
                    message: Some(pb::MessageDetail {
                        channel: pb::Channel::Telegram as i32,
                        external_id: "777:1".into(),
                        text: text.into(),
                        ..Default::default()
                    }),
                    contact_id: ivan.id.clone(),
                    thread_key: "777".into(),
                    edit,
                    ..Default::default()
                }),
            }))
        };
        h.deliver(&telegram("helo", false)).await;
        h.deliver(&telegram("hello", true)).await;
        let messages = h
            .svc
            .timeline(
                &ctx("admin"),
                &subject,
                &[EntryKind::Message],
                None,
                page(10),
            )
            .await
            .unwrap()
            .items;
        assert_eq!(messages.len(), 5, "{b:?}");
        let tg = messages
            .iter()
            .find(|e| e.body == "hello")
            .expect("edited text");
        let history = h.svc.note_history(&ctx("admin"), &tg.id).await;
        assert!(history.is_err(), "{b:?}: message history is not a note's");
        let Some(Detail::Message(m)) = &tg.detail else {
            panic!()
        };
        assert_eq!(m.edits, 1, "{b:?}");
    }
}

#[tokio::test]
async fn reminders_fire_once_across_replicas_and_after_a_restart() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let now = now_millis();
        for i in 0..250 {
            let task = NewTask {
                remind_at: Some(now - 1000),
                ..todo(&format!("t{i}"), now + HOUR, Links::default())
            };
            h.svc.create_task(&ctx("olga"), task).await.unwrap();
        }
        let later = NewTask {
            remind_at: Some(now + HOUR),
            ..todo("later", now + HOUR, Links::default())
        };
        h.svc.create_task(&ctx("olga"), later).await.unwrap();
        // Nothing ran while the tasks came due ("down"); now two replicas start at once.
        let replica = Harness::activities(&h.t, &h.contacts);
        let (a, b2) = tokio::join!(
            ringside_activities::reminders::fire_due(&h.svc),
            ringside_activities::reminders::fire_due(&replica)
        );
        let fired = a.unwrap() + b2.unwrap();
        assert_eq!(fired, 250, "{b:?}");
        assert_eq!(
            ringside_activities::reminders::fire_due(&h.svc)
                .await
                .unwrap(),
            0,
            "{b:?}"
        );
        let due = h.events("task.due").await;
        let mut ids: Vec<String> = due
            .iter()
            .map(|e| match &e.payload {
                Some(EventPayload::TaskDue(d)) => d.task.as_ref().unwrap().id.clone(),
                _ => panic!(),
            })
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!((due.len(), ids.len()), (250, 250), "{b:?}: each once");
        assert_eq!(
            h.count_where("activity_tasks", "reminded_at IS NOT NULL")
                .await,
            250,
            "{b:?}"
        );

        // Moving a reminded task's reminder re-arms it.
        let task = h
            .svc
            .list_tasks(&ctx("admin"), TaskFilter::default(), page(1))
            .await
            .unwrap()
            .items
            .remove(0);
        let patch = TaskPatch {
            remind_at: Some(now_millis() - 1),
            ..Default::default()
        };
        h.svc
            .update_task(&ctx("olga"), &task.id, patch)
            .await
            .unwrap();
        assert_eq!(
            ringside_activities::reminders::fire_due(&h.svc)
                .await
                .unwrap(),
            1,
            "{b:?}"
        );
        let done = h.svc.get_task(&ctx("admin"), &task.id).await.unwrap();
        assert_eq!(done.status, TaskStatus::Open, "{b:?}");
    }
}

fn chat(
    contact: &str,
    chat: &str,
    n: u32,
    text: &str,
    inbound: bool,
    at: i64,
) -> ringside_bus::Envelope {
    let cm = ev::ChannelMessage {
        message: Some(pb::MessageDetail {
            channel: pb::Channel::Telegram as i32,
            external_id: format!("{chat}:{n}"),
            text: text.into(),
            agent_id: if inbound {
                String::new()
            } else {
                "olga".into()
            },
            ..Default::default()
        }),
        contact_id: contact.into(),
        thread_key: chat.into(),
        sent_at: Some(ringside_proto::timestamp_from_millis(at)),
        ..Default::default()
    };
    event(match inbound {
        true => EventPayload::MessageReceived(ev::MessageReceived { message: Some(cm) }),
        false => EventPayload::MessageSent(ev::MessageSent { message: Some(cm) }),
    })
}

fn agent(actor: &str) -> Ctx {
    Ctx {
        role: Some(ringside_auth::Role::Agent),
        ..ctx(actor)
    }
}

async fn inbox(h: &Harness, who: &Ctx, owner: InboxOwner, waiting: bool) -> Vec<(String, bool)> {
    let query = InboxQuery {
        owner,
        waiting,
        channel: None,
    };
    let found = h
        .svc
        .list_inbox(who, &query, page(10))
        .await
        .expect("inbox");
    found
        .items
        .iter()
        .map(|c| (c.preview.clone(), c.waiting))
        .collect()
}

#[tokio::test]
async fn the_inbox_lists_what_waits_for_an_answer_within_the_callers_reach() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let now = now_millis();
        let ivan = h.contact("Иван", "+79123456789", "olga").await;
        let petr = h.contact("Пётр", "+79123456780", "ivan").await;
        let nina = h.contact("Нина", "+79123456781", "").await;
        h.deliver(&chat(
            &ivan.id,
            "1",
            1,
            "Where is my order?",
            true,
            now - 3000,
        ))
        .await;
        h.deliver(&chat(&petr.id, "2", 1, "Hello", true, now - 2000))
            .await;
        h.deliver(&chat(&nina.id, "3", 1, "Any news?", true, now - 1000))
            .await;
        // Olga answers Ivan; the answer's event comes twice, and the client's older
        // message comes again after it: still answered.
        let answer = chat(&ivan.id, "1", 2, "On its way", false, now - 500);
        h.deliver(&answer).await;
        h.deliver(&answer).await;
        h.deliver(&chat(
            &ivan.id,
            "1",
            1,
            "Where is my order?",
            true,
            now - 3000,
        ))
        .await;

        let olga = agent("olga");
        let all = inbox(&h, &olga, InboxOwner::Any, false).await;
        assert_eq!(
            all,
            [("On its way".into(), false), ("Any news?".into(), true)],
            "{b:?}: an agent sees her own and nobody's, latest first"
        );
        let waiting = inbox(&h, &olga, InboxOwner::MineOrUnassigned, true).await;
        assert_eq!(waiting, [("Any news?".into(), true)], "{b:?}");
        assert!(
            inbox(&h, &olga, InboxOwner::Mine, true).await.is_empty(),
            "{b:?}"
        );

        let everyone = inbox(&h, &ctx("admin"), InboxOwner::Any, true).await;
        assert_eq!(
            everyone,
            [("Any news?".into(), true), ("Hello".into(), true)],
            "{b:?}: the service's own reach is everyone"
        );
        let unassigned = inbox(&h, &ctx("admin"), InboxOwner::Unassigned, false).await;
        assert_eq!(unassigned, [("Any news?".into(), true)], "{b:?}");

        // A later message from Ivan waits again.
        h.deliver(&chat(&ivan.id, "1", 3, "Thanks!", true, now))
            .await;
        let mine = inbox(&h, &olga, InboxOwner::Mine, true).await;
        assert_eq!(mine, [("Thanks!".into(), true)], "{b:?}");

        // Someone else's conversation is not found, one's own is.
        let petrs = h
            .svc
            .list_conversations(&ctx("admin"), &Subject::Contact(petr.id.clone()), page(1))
            .await
            .unwrap()
            .items
            .remove(0);
        let err = h.svc.get_conversation(&olga, &petrs.id).await.unwrap_err();
        assert!(
            matches!(err, ActivitiesError::NotFound { .. }),
            "{b:?}: {err}"
        );
        let own = h
            .svc
            .list_conversations(&olga, &Subject::Contact(ivan.id.clone()), page(1))
            .await
            .unwrap()
            .items
            .remove(0);
        let got = h.svc.get_conversation(&olga, &own.id).await.unwrap();
        assert_eq!((got.owner_id.as_str(), got.entries), ("olga", 3), "{b:?}");

        // Olga answers again; then a message Ivan wrote before that arrives late, and
        // an automatic answer goes out: neither makes him wait, nor stops the wait.
        h.deliver(&chat(&ivan.id, "1", 4, "Glad to help", false, now + 1000))
            .await;
        h.deliver(&chat(
            &ivan.id,
            "1",
            5,
            "Sent from the road",
            true,
            now + 500,
        ))
        .await;
        let mut auto = chat(&ivan.id, "1", 6, "We are closed today", false, now + 2000);
        if let Some(EventPayload::MessageSent(m)) = &mut auto.payload
            && let Some(d) = m.message.as_mut().and_then(|cm| cm.message.as_mut())
        {
            d.automatic = true;
            d.agent_id.clear();
        }
        h.deliver(&auto).await;
        let mine = inbox(&h, &olga, InboxOwner::Mine, false).await;
        assert_eq!(mine, [("We are closed today".into(), false)], "{b:?}");
        h.deliver(&chat(&ivan.id, "1", 7, "Still there?", true, now + 3000))
            .await;
        let mut auto = chat(&ivan.id, "1", 8, "Out of office", false, now + 4000);
        if let Some(EventPayload::MessageSent(m)) = &mut auto.payload
            && let Some(d) = m.message.as_mut().and_then(|cm| cm.message.as_mut())
        {
            d.automatic = true;
        }
        h.deliver(&auto).await;
        let waiting = inbox(&h, &olga, InboxOwner::Mine, true).await;
        assert_eq!(
            waiting,
            [("Out of office".into(), true)],
            "{b:?}: still waits"
        );
    }
}

#[tokio::test]
async fn a_disqualified_lead_who_writes_again_is_still_in_the_inbox() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let admin = ringside_contacts::model::Ctx {
            actor: "admin".into(),
            correlation_id: "seed".into(),
            ..Default::default()
        };
        let new = ringside_contacts::model::NewLead {
            name: "Спам?".into(),
            owner_id: "olga".into(),
            ..Default::default()
        };
        let lead = h.contacts.create_lead(&admin, new).await.expect("lead");
        h.pump().await;
        let from_lead = |n: u32, text: &str, at: i64| {
            let mut message = chat("", "5", n, text, true, at);
            if let Some(EventPayload::MessageReceived(m)) = &mut message.payload
                && let Some(cm) = m.message.as_mut()
            {
                cm.lead_id = lead.id.clone();
            }
            message
        };
        let now = now_millis();
        h.deliver(&from_lead(1, "Buy cheap pills", now - 1000))
            .await;
        let olga = agent("olga");
        assert_eq!(
            inbox(&h, &olga, InboxOwner::Mine, true).await.len(),
            1,
            "{b:?}"
        );
        // Disqualified: what they wrote waits for nobody.
        let no = ringside_contacts::domain::LeadStatus::Disqualified;
        h.contacts
            .set_lead_status(&admin, &lead.id, no, "not a buyer")
            .await
            .expect("disqualified");
        h.pump().await;
        assert!(
            inbox(&h, &olga, InboxOwner::Mine, true).await.is_empty(),
            "{b:?}"
        );
        // What they write next does.
        h.deliver(&from_lead(2, "I do want to buy now", now)).await;
        let waiting = inbox(&h, &olga, InboxOwner::Mine, true).await;
        assert_eq!(waiting, [("I do want to buy now".into(), true)], "{b:?}");
    }
}

#[tokio::test]
async fn a_companys_conversations_are_each_its_persons() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let admin = ringside_contacts::model::Ctx {
            actor: "admin".into(),
            correlation_id: "seed".into(),
            ..Default::default()
        };
        let acme = h
            .contacts
            .create_company(&admin, "Acme", "olga")
            .await
            .expect("company");
        let petr = h.contact("Пётр", "+79123456780", "ivan").await;
        let mut message = chat(&petr.id, "9", 1, "Our order is late", true, now_millis());
        if let Some(EventPayload::MessageReceived(m)) = &mut message.payload
            && let Some(cm) = m.message.as_mut()
        {
            cm.company_id = acme.id.clone();
        }
        h.deliver(&message).await;
        let olga = agent("olga");
        let of_acme = h
            .svc
            .list_conversations(&olga, &Subject::Company(acme.id.clone()), page(10))
            .await
            .expect("Acme is Olga's")
            .items;
        assert!(of_acme.is_empty(), "{b:?}: Petr is Ivan's, not Olga's");
        let all = h
            .svc
            .list_conversations(&ctx("admin"), &Subject::Company(acme.id.clone()), page(10))
            .await
            .unwrap()
            .items;
        let err = h.svc.get_conversation(&olga, &all[0].id).await.unwrap_err();
        assert!(
            matches!(err, ActivitiesError::NotFound { .. }),
            "{b:?}: {err}"
        );
    }
}

/// The office's canned answers: added, listed by title, changed, removed; a bad one
/// is refused and changes nothing; the office keeps 200 at most.
#[tokio::test]
async fn canned_answers_are_kept_by_title_and_checked() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let marina = ctx("marina");
        let price = (h
            .svc
            .save_reply(&marina, "", "Цены", "Прайс:\n— 100 ₽")
            .await)
            .expect("a reply");
        let hello = (h
            .svc
            .save_reply(&marina, "", "Greeting", "Здравствуйте!")
            .await)
            .expect("a reply");
        let titles = |list: Vec<ringside_activities::replies::CannedReply>| {
            list.into_iter().map(|r| r.title).collect::<Vec<_>>()
        };
        let listed = h.svc.list_replies().await.expect("list");
        assert_eq!(titles(listed.clone()), ["Greeting", "Цены"], "{b:?}");
        assert_eq!(listed[1].text, "Прайс:\n— 100 ₽", "{b:?}: line breaks kept");
        assert_eq!(listed[1].updated_by, "marina");

        let anna = ctx("anna");
        let changed = h
            .svc
            .save_reply(&anna, &hello.id, "Приветствие", " Добрый день! ")
            .await
            .expect("changed");
        assert_eq!(
            (changed.id.as_str(), changed.text.as_str()),
            (hello.id.as_str(), "Добрый день!")
        );
        let listed = h.svc.list_replies().await.expect("list");
        assert_eq!(titles(listed), ["Приветствие", "Цены"], "{b:?}");

        for (title, text) in [("", "x"), ("x", "  "), ("x\u{7}", "x")] {
            let err = h
                .svc
                .save_reply(&marina, "", title, text)
                .await
                .unwrap_err();
            assert!(matches!(err, ActivitiesError::Invalid(_)), "{b:?}: {err}");
        }
        let long = "я".repeat(4_001);
        let err = h
            .svc
            .save_reply(&marina, &price.id, "Цены", &long)
            .await
            .unwrap_err();
        assert!(matches!(err, ActivitiesError::Invalid(_)), "{b:?}: {err}");
        let missing = h
            .svc
            .save_reply(&marina, "no-such", "x", "y")
            .await
            .unwrap_err();
        assert!(matches!(missing, ActivitiesError::NotFound { .. }), "{b:?}");
        assert_eq!(
            h.svc.list_replies().await.unwrap().len(),
            2,
            "refusals change nothing"
        );

        h.svc.delete_reply(&price.id).await.expect("deleted");
        let gone = h.svc.delete_reply(&price.id).await.unwrap_err();
        assert!(matches!(gone, ActivitiesError::NotFound { .. }), "{b:?}");
        for n in 1..200 {
            let title = format!("Шаблон {n}");
            h.svc
                .save_reply(&marina, "", &title, "текст")
                .await
                .expect("within the limit");
        }
        let full = h
            .svc
            .save_reply(&marina, "", "Лишний", "текст")
            .await
            .unwrap_err();
        assert!(
            matches!(full, ActivitiesError::FailedPrecondition(_)),
            "{b:?}: {full}"
        );
        assert_eq!(h.svc.list_replies().await.unwrap().len(), 200);
    }
}

#[tokio::test]
async fn an_older_event_arriving_late_does_not_undo_a_newer_one() {
    for t in all_backends().await {
        let h = Harness::new(t);
        let b = h.backend();
        let ivan = h.contact("Иван", "+79123456789", "olga").await;
        let updated = |owner: &str, at: i64| {
            let contact = ringside_proto::contacts::v1::Contact {
                id: ivan.id.clone(),
                name: ivan.name.clone(),
                owner_id: owner.into(),
                ..Default::default()
            };
            let mut envelope = event(EventPayload::ContactUpdated(ev::ContactUpdated {
                contact: Some(contact),
            }));
            envelope.occurred_at = Some(ringside_proto::timestamp_from_millis(at));
            envelope
        };
        let now = now_millis();
        // Given to Ivan, then the earlier change (to Petr) arrives late.
        h.deliver(&updated("ivan", now + 2_000)).await;
        h.deliver(&updated("petr", now + 1_000)).await;
        let owner = |who: &'static str| {
            format!(
                "kind = 'contact' AND id = '{}' AND owner_id = '{who}'",
                ivan.id
            )
        };
        assert_eq!(
            h.count_where("activity_subjects", &owner("ivan")).await,
            1,
            "{b:?}"
        );
        // Deleted, then a late update from before the deletion: still inactive.
        let mut deleted = event(EventPayload::ContactDeleted(ev::ContactDeleted {
            contact_id: ivan.id.clone(),
        }));
        deleted.occurred_at = Some(ringside_proto::timestamp_from_millis(now + 3_000));
        h.deliver(&deleted).await;
        h.deliver(&updated("ivan", now + 2_500)).await;
        let active = format!("kind = 'contact' AND id = '{}' AND active = 1", ivan.id);
        assert_eq!(
            h.count_where("activity_subjects", &active).await,
            0,
            "{b:?}"
        );
    }
}
