//! The contacts service's conformance suite: every scenario runs on SQLite and, when
//! `RINGSIDE_TEST_DATABASE_URL` is set, on PostgreSQL — the same code, the same answers.

use std::sync::Arc;

use ringside_auth::{Guarded, TokenKey};
use ringside_contacts::assign::{AssignConfig, Assigner};
use ringside_contacts::domain::{Identity, IdentityKind, LeadStatus};
use ringside_contacts::model::{
    ContactFilter, ContactPatch, Ctx, DeletedFilter, LeadFilter, LeadPatch, LeadSource, NewContact,
    NewLead, Page, Party,
};
use ringside_contacts::{ContactsError, ContactsService, ConvertLead, Person};
use ringside_kit::PeerChannel;
use ringside_staff::model::UserSpec;
use ringside_staff::{StaffGrpc, StaffService};
use ringside_storage::testing::{TestDb, all_backends};
use tokio::sync::Notify;

fn service(t: &TestDb) -> ContactsService {
    ContactsService::new(
        t.db.clone(),
        "RU".parse().expect("region"),
        Arc::new(Notify::new()),
    )
}

fn ctx() -> Ctx {
    Ctx {
        actor: "tester".into(),
        correlation_id: "corr".into(),
        ..Default::default()
    }
}

fn phone(raw: &str) -> Identity {
    Identity::parse(IdentityKind::Phone, raw, "RU".parse().expect("region")).expect("phone")
}

fn email(raw: &str) -> Identity {
    Identity::parse(IdentityKind::Email, raw, Default::default()).expect("email")
}

fn page(size: i64) -> Page {
    Page { size, after: None }
}

async fn count(t: &TestDb, table: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(ringside_storage::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {table}"
    )))
    .fetch_one(t.db.pool())
    .await
    .expect("count")
}

/// Routing keys in the outbox, in the order they were written.
async fn outbox_types(t: &TestDb) -> Vec<String> {
    sqlx::query_scalar::<_, String>("SELECT routing_key FROM outbox ORDER BY id")
        .fetch_all(t.db.pool())
        .await
        .expect("outbox")
}

async fn ivan(svc: &ContactsService) -> ringside_contacts::model::Contact {
    svc.create_contact(
        &ctx(),
        NewContact {
            name: "Иван Петров".into(),
            owner_id: "agent-1".into(),
            tags: vec!["VIP".into()],
            identities: vec![phone("8 (912) 345-67-89"), email("Ivan@Example.com")],
            ..Default::default()
        },
    )
    .await
    .expect("create contact")
}

#[tokio::test]
async fn contact_lifecycle_writes_its_events() {
    for t in all_backends().await {
        let svc = service(&t);
        let created = ivan(&svc).await;
        assert_eq!(created.tags, vec!["vip"], "{:?}", t.backend());
        let values: Vec<&str> = created
            .identities
            .iter()
            .map(|i| i.value.as_str())
            .collect();
        assert_eq!(values, vec!["ivan@example.com", "+79123456789"]);
        assert_eq!(
            svc.get_contact(&ctx(), &created.id).await.expect("get"),
            created
        );

        let patch = ContactPatch {
            name: Some("Иван Сергеевич Петров".into()),
            tags: Some(vec!["b2b".into()]),
            ..Default::default()
        };
        let updated = svc
            .update_contact(&ctx(), &created.id, patch)
            .await
            .expect("update");
        assert_eq!(updated.name, "Иван Сергеевич Петров");
        assert_eq!(updated.tags, vec!["b2b"]);
        assert_eq!(
            updated.identities, created.identities,
            "identities untouched"
        );

        let deleted = svc
            .delete_contact(&ctx(), &created.id)
            .await
            .expect("delete");
        assert!(deleted.deleted_at.is_some());
        let listed = svc
            .list_contacts(&ctx(), ContactFilter::default(), page(10))
            .await
            .expect("list");
        assert!(
            listed.items.is_empty(),
            "deleted contacts are not listed by default"
        );
        let only_deleted = ContactFilter {
            deleted: DeletedFilter::Only,
            ..Default::default()
        };
        let listed = svc
            .list_contacts(&ctx(), only_deleted, page(10))
            .await
            .expect("list");
        assert_eq!(listed.items.len(), 1);
        assert_eq!(
            outbox_types(&t).await,
            vec!["contact.created", "contact.updated", "contact.deleted"]
        );
    }
}

#[tokio::test]
async fn an_identity_of_another_contact_is_refused_and_nothing_is_written() {
    for t in all_backends().await {
        let svc = service(&t);
        let first = ivan(&svc).await;
        let (contacts, events) = (count(&t, "contacts").await, count(&t, "outbox").await);
        let err = svc
            .create_contact(
                &ctx(),
                NewContact {
                    name: "Someone Else".into(),
                    identities: vec![email("someone@example.com"), phone("+7 912 345 67 89")],
                    ..Default::default()
                },
            )
            .await
            .expect_err("duplicate phone");
        match err {
            ContactsError::IdentityTaken { contact_id, .. } => assert_eq!(contact_id, first.id),
            other => panic!("expected IdentityTaken, got {other:?}"),
        }
        assert_eq!(
            count(&t, "contacts").await,
            contacts,
            "no contact row left behind"
        );
        assert_eq!(count(&t, "outbox").await, events, "no event left behind");
        assert_eq!(
            count(&t, "identities").await,
            2,
            "the new email was not kept either"
        );
    }
}

#[tokio::test]
async fn lookup_by_phone_matches_exactly_then_by_unique_trailing_digits() {
    for t in all_backends().await {
        let svc = service(&t);
        let contact = ivan(&svc).await;
        let found = |p: Option<Party>| match p {
            Some(Party::Contact(c)) => Some(c.id),
            _ => None,
        };
        let id = Some(contact.id.clone());
        assert_eq!(
            found(
                svc.lookup_by_phone(&ctx(), "+79123456789")
                    .await
                    .expect("e164")
            ),
            id
        );
        assert_eq!(
            found(
                svc.lookup_by_phone(&ctx(), "8 912 345-67-89")
                    .await
                    .expect("national")
            ),
            id
        );
        // An international prefix the parser does not read as +7: matched by the tail.
        assert_eq!(
            found(
                svc.lookup_by_phone(&ctx(), "810 7 912 345 67 89")
                    .await
                    .expect("tail")
            ),
            id
        );
        assert_eq!(
            found(
                svc.lookup_by_phone(&ctx(), "345-67-89")
                    .await
                    .expect("7 digits")
            ),
            id
        );
        assert!(
            svc.lookup_by_phone(&ctx(), "+79990000000")
                .await
                .expect("miss")
                .is_none()
        );

        // A second number ending in the same seven digits makes the short form ambiguous.
        svc.create_contact(
            &ctx(),
            NewContact {
                name: "Namesake".into(),
                identities: vec![phone("+7 495 345-67-89")],
                ..Default::default()
            },
        )
        .await
        .expect("second contact");
        assert!(
            svc.lookup_by_phone(&ctx(), "345-67-89")
                .await
                .expect("ambiguous")
                .is_none()
        );
        assert_eq!(
            found(
                svc.lookup_by_phone(&ctx(), "912 345-67-89")
                    .await
                    .expect("10 digits")
            ),
            id
        );
        let err = svc
            .lookup_by_phone(&ctx(), "12")
            .await
            .expect_err("too short");
        assert!(
            matches!(err, ContactsError::Invalid(ref i) if i.field == "phone"),
            "{err:?}"
        );
    }
}

/// A lead's details are changed: name, company name, numbers and emails; a number
/// another client holds is refused and nothing changes; a converted lead is final.
#[tokio::test]
async fn a_leads_details_change_until_it_is_converted() {
    for t in all_backends().await {
        let svc = service(&t);
        let lead = svc
            .create_lead(
                &ctx(),
                NewLead {
                    identities: vec![phone("+7 912 555-00-01")],
                    ..Default::default()
                },
            )
            .await
            .expect("lead");
        let patch = LeadPatch {
            name: Some(" Анна Клиент ".into()),
            company_name: Some("ООО Ромашка".into()),
            identities: Some(vec![phone("+7 912 555-00-01"), email("Anna@Example.com")]),
        };
        let changed = svc
            .update_lead(&ctx(), &lead.id, patch)
            .await
            .expect("changed");
        assert_eq!(
            (changed.name.as_str(), changed.company_name.as_str()),
            ("Анна Клиент", "ООО Ромашка")
        );
        assert_eq!(
            changed.identities,
            vec![email("anna@example.com"), phone("+79125550001")]
        );
        let found = svc
            .list_leads(
                &ctx(),
                LeadFilter {
                    query: Some("анна".into()),
                    ..Default::default()
                },
                page(10),
            )
            .await
            .expect("found by the new name");
        assert_eq!(found.items.len(), 1, "{:?}", t.backend());

        let ivan = svc
            .create_contact(
                &ctx(),
                NewContact {
                    name: "Иван".into(),
                    identities: vec![phone("+7 900 000-00-09")],
                    ..Default::default()
                },
            )
            .await
            .expect("contact");
        let taken = LeadPatch {
            name: Some("Чужой номер".into()),
            identities: Some(vec![phone("+7 900 000-00-09")]),
            ..Default::default()
        };
        let err = svc.update_lead(&ctx(), &lead.id, taken).await.unwrap_err();
        assert!(
            matches!(err, ContactsError::IdentityTaken { .. }),
            "{err:?}"
        );
        let after = svc.get_lead(&ctx(), &lead.id).await.expect("lead");
        assert_eq!(after, changed, "a refused change changes nothing");
        assert_eq!(
            svc.get_contact(&ctx(), &ivan.id)
                .await
                .unwrap()
                .identities
                .len(),
            1
        );

        svc.convert_lead(
            &ctx(),
            ConvertLead {
                lead_id: lead.id.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("converted");
        let late = LeadPatch {
            name: Some("x".into()),
            ..Default::default()
        };
        let err = svc.update_lead(&ctx(), &lead.id, late).await.unwrap_err();
        assert!(
            matches!(err, ContactsError::FailedPrecondition(_)),
            "{err:?}"
        );
        let events = outbox_types(&t).await;
        assert_eq!(events.iter().filter(|e| *e == "lead.updated").count(), 1);
    }
}

/// Ten people take the same unowned contact and the same unowned lead at once
/// (each expecting nobody to own it): one of each succeeds, the others are told
/// it is taken, and the record is the winner's. A give from a page that showed an
/// owner who is no longer the owner changes nothing.
#[tokio::test]
async fn ten_people_taking_one_client_at_once_one_gets_it() {
    for t in all_backends().await {
        let svc = service(&t);
        let contact = svc
            .create_contact(
                &ctx(),
                NewContact {
                    name: "Ничей клиент".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("contact");
        let lead = svc
            .create_lead(
                &ctx(),
                NewLead {
                    name: "Ничей лид".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("lead");
        let takes = (0..10).map(|i| {
            let (svc, id) = (svc.clone(), contact.id.clone());
            tokio::spawn(async move {
                let patch = ContactPatch {
                    owner_id: Some(format!("agent-{i}")),
                    expected_owner: Some(String::new()),
                    ..Default::default()
                };
                svc.update_contact(&ctx(), &id, patch)
                    .await
                    .map(|c| c.owner_id)
            })
        });
        let lead_takes = (0..10).map(|i| {
            let (svc, id) = (svc.clone(), lead.id.clone());
            tokio::spawn(async move {
                let me = format!("agent-{i}");
                svc.assign_lead(&ctx(), &id, &me, Some(""))
                    .await
                    .map(|l| l.owner_id)
            })
        });
        let (takes, lead_takes) = futures::future::join(
            futures::future::join_all(takes),
            futures::future::join_all(lead_takes),
        )
        .await;
        for (results, now) in [
            (
                takes,
                svc.get_contact(&ctx(), &contact.id).await.unwrap().owner_id,
            ),
            (
                lead_takes,
                svc.get_lead(&ctx(), &lead.id).await.unwrap().owner_id,
            ),
        ] {
            let mut winners = Vec::new();
            for result in results {
                match result.expect("task") {
                    Ok(owner) => winners.push(owner),
                    Err(ContactsError::OwnerChanged(_)) => {}
                    Err(e) => panic!("{:?}: {e:?}", t.backend()),
                }
            }
            assert_eq!(winners, vec![now], "{:?}: one taker wins", t.backend());
        }
        let stale = ContactPatch {
            owner_id: Some("agent-x".into()),
            expected_owner: Some(String::new()),
            ..Default::default()
        };
        let before = svc.get_contact(&ctx(), &contact.id).await.unwrap();
        let err = svc.update_contact(&ctx(), &contact.id, stale).await;
        assert!(
            matches!(err, Err(ContactsError::OwnerChanged(_))),
            "{err:?}"
        );
        let after = svc.get_contact(&ctx(), &contact.id).await.unwrap();
        assert_eq!(after, before, "a refused give changes nothing");
    }
}

#[tokio::test]
async fn fifty_parallel_resolves_of_a_new_number_create_exactly_one_lead() {
    for t in all_backends().await {
        let svc = service(&t);
        let caller = phone("+7 999 111-22-33");
        let calls = (0..50).map(|_| {
            let svc = svc.clone();
            let caller = caller.clone();
            tokio::spawn(async move {
                let source = LeadSource {
                    channel: "phone".into(),
                    campaign: String::new(),
                };
                svc.resolve(&ctx(), caller, "", source).await
            })
        });
        let results = futures::future::join_all(calls).await;
        let mut lead_ids = std::collections::HashSet::new();
        let mut created = 0;
        for result in results {
            let resolved = result.expect("task").expect("resolve");
            let (party, was_created) = (resolved.party, resolved.created);
            created += usize::from(was_created);
            match party {
                Party::Lead(lead) => lead_ids.insert(lead.id),
                Party::Contact(_) => panic!("a stranger is a lead"),
            };
        }
        assert_eq!(
            lead_ids.len(),
            1,
            "{:?}: one lead for one caller",
            t.backend()
        );
        assert_eq!(created, 1, "exactly one call reports it created the lead");
        assert_eq!(count(&t, "leads").await, 1);
        assert_eq!(outbox_types(&t).await, vec!["lead.created"]);
    }
}

#[tokio::test]
async fn resolve_finds_an_existing_contact_without_creating_anything() {
    for t in all_backends().await {
        let svc = service(&t);
        let contact = ivan(&svc).await;
        let resolved = svc
            .resolve(&ctx(), email("IVAN@example.com"), "", LeadSource::default())
            .await
            .expect("resolve");
        assert!(!resolved.created);
        assert!(matches!(resolved.party, Party::Contact(c) if c.id == contact.id));
        assert_eq!(resolved.company_name, "", "Ivan works for no company yet");
        assert_eq!(count(&t, "leads").await, 0);

        // With a company, its name comes with the answer (a caller-ID card shows it).
        let company = svc
            .create_company(&ctx(), "ООО Ромашка", "agent-1")
            .await
            .expect("company");
        let worker = svc
            .create_contact(
                &ctx(),
                NewContact {
                    name: "Мария".into(),
                    company_id: Some(company.id.clone()),
                    identities: vec![phone("+7 912 000-11-22")],
                    ..Default::default()
                },
            )
            .await
            .expect("contact");
        let resolved = svc
            .resolve(&ctx(), phone("89120001122"), "", LeadSource::default())
            .await
            .expect("resolve");
        assert!(matches!(&resolved.party, Party::Contact(c) if c.id == worker.id));
        assert_eq!(resolved.company_name, "ООО Ромашка", "{:?}", t.backend());
    }
}

#[tokio::test]
async fn a_lead_is_worked_qualified_and_converted_into_a_contact_and_company() {
    for t in all_backends().await {
        let svc = service(&t);
        let lead = svc
            .create_lead(
                &ctx(),
                NewLead {
                    name: "Мария".into(),
                    company_name: "ООО Ромашка".into(),
                    identities: vec![phone("+7 916 000-00-01")],
                    source: LeadSource {
                        channel: "web".into(),
                        campaign: "spring".into(),
                    },
                    owner_id: "agent-2".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("lead");
        assert_eq!(lead.status, LeadStatus::New);
        let err = svc
            .set_lead_status(&ctx(), &lead.id, LeadStatus::Disqualified, "")
            .await
            .expect_err("reason required");
        assert!(matches!(err, ContactsError::Invalid(ref i) if i.field == "reason"));
        svc.set_lead_status(&ctx(), &lead.id, LeadStatus::Working, "")
            .await
            .expect("working");
        let err = svc
            .set_lead_status(&ctx(), &lead.id, LeadStatus::New, "")
            .await
            .expect_err("no way back to new");
        assert!(matches!(err, ContactsError::FailedPrecondition(_)));
        let assigned = svc
            .assign_lead(&ctx(), &lead.id, "agent-3", None)
            .await
            .expect("assign");
        assert_eq!(assigned.owner_id, "agent-3");

        let (converted, contact, company) = svc
            .convert_lead(
                &ctx(),
                ConvertLead {
                    lead_id: lead.id.clone(),
                    ..Default::default()
                },
            )
            .await
            .expect("convert");
        assert_eq!(converted.status, LeadStatus::Qualified);
        assert_eq!(converted.contact_id.as_deref(), Some(contact.id.as_str()));
        let company = company.expect("company from the lead's company name");
        assert_eq!(company.name, "ООО Ромашка");
        assert_eq!(contact.company_id.as_deref(), Some(company.id.as_str()));
        assert_eq!(contact.owner_id, "agent-3");
        assert_eq!(contact.identities, vec![phone("+79160000001")]);
        // The number now finds the contact, not the lead.
        let found = svc
            .lookup_by_phone(&ctx(), "+79160000001")
            .await
            .expect("lookup");
        assert!(matches!(found, Some(Party::Contact(c)) if c.id == contact.id));
        let err = svc
            .assign_lead(&ctx(), &lead.id, "x", None)
            .await
            .expect_err("converted is final");
        assert!(matches!(err, ContactsError::FailedPrecondition(_)));
        assert_eq!(
            outbox_types(&t).await,
            vec![
                "lead.created",
                "lead.status_changed",
                "lead.status_changed",
                "contact.created",
                "lead.converted"
            ]
        );
    }
}

#[tokio::test]
async fn a_known_client_calling_from_a_new_number_is_converted_into_their_contact() {
    for t in all_backends().await {
        let svc = service(&t);
        let known = ivan(&svc).await;
        // Nobody's lead: anyone may convert it; into Ivan only who sees him.
        let stranger = svc
            .create_lead(
                &ctx(),
                NewLead {
                    name: "+7 916 000-00-02".into(),
                    identities: vec![phone("+7 916 000-00-02")],
                    ..Default::default()
                },
            )
            .await
            .expect("lead");
        let contacts_before = count(&t, "contacts").await;
        // Someone else's agent cannot see Ivan, so cannot convert into him.
        let other = Ctx {
            actor: "agent-9".into(),
            role: Some(ringside_auth::Role::Agent),
            ..ctx()
        };
        let into = |lead: &str, by_lead_owner: bool| ConvertLead {
            lead_id: lead.to_owned(),
            contact_id: known.id.clone(),
            contact_name: if by_lead_owner {
                String::new()
            } else {
                "Ignored".into()
            },
            ..Default::default()
        };
        let err = svc
            .convert_lead(&other, into(&stranger.id, true))
            .await
            .expect_err("not his");
        assert!(
            matches!(
                &err,
                ContactsError::NotFound {
                    kind: "contact",
                    ..
                }
            ),
            "{err}"
        );

        let (lead, contact, company) = svc
            .convert_lead(&ctx(), into(&stranger.id, false))
            .await
            .expect("convert into Ivan");
        assert_eq!(lead.contact_id.as_deref(), Some(known.id.as_str()));
        assert_eq!(
            (contact.id.as_str(), contact.name.as_str()),
            (known.id.as_str(), "Иван Петров")
        );
        assert!(company.is_none());
        let numbers: Vec<&str> = contact
            .identities
            .iter()
            .map(|i| i.value.as_str())
            .collect();
        assert!(numbers.contains(&"+79160000002"), "{numbers:?}");
        assert!(numbers.contains(&"+79123456789"), "{numbers:?}");
        assert_eq!(
            count(&t, "contacts").await,
            contacts_before,
            "no new contact"
        );
        let found = svc
            .lookup_by_phone(&ctx(), "+79160000002")
            .await
            .expect("lookup")
            .expect("found");
        assert!(matches!(found, ringside_contacts::model::Party::Contact(c) if c.id == known.id));
        let types = outbox_types(&t).await;
        assert_eq!(
            &types[types.len() - 2..],
            ["contact.updated", "lead.converted"],
            "{types:?}"
        );
        // Converted once: a second conversion is refused and writes nothing.
        let err = svc
            .convert_lead(&ctx(), into(&stranger.id, false))
            .await
            .expect_err("converted already");
        assert!(matches!(err, ContactsError::FailedPrecondition(_)), "{err}");
        assert_eq!(outbox_types(&t).await.len(), types.len());
        // A deleted contact takes no lead.
        let another = svc
            .create_lead(
                &ctx(),
                NewLead {
                    name: "Someone".into(),
                    identities: vec![phone("+7 916 000-00-03")],
                    ..Default::default()
                },
            )
            .await
            .expect("lead");
        svc.delete_contact(&ctx(), &known.id)
            .await
            .expect("deleted");
        let err = svc
            .convert_lead(&ctx(), into(&another.id, false))
            .await
            .expect_err("deleted");
        assert!(matches!(err, ContactsError::FailedPrecondition(_)), "{err}");
    }
}

#[tokio::test]
async fn merge_moves_identities_tags_and_fields_onto_the_survivor() {
    for t in all_backends().await {
        let svc = service(&t);
        let survivor = ivan(&svc).await;
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("city".to_owned(), "Казань".to_owned());
        let duplicate = svc
            .create_contact(
                &ctx(),
                NewContact {
                    name: "Ivan P.".into(),
                    tags: vec!["telegram".into(), "vip".into()],
                    custom_fields: fields,
                    identities: vec![
                        Identity::parse(IdentityKind::Telegram, "4242", Default::default())
                            .expect("tg"),
                    ],
                    ..Default::default()
                },
            )
            .await
            .expect("duplicate");
        let merged = svc
            .merge_contacts(&ctx(), &survivor.id, &duplicate.id)
            .await
            .expect("merge");
        assert_eq!(merged.tags, vec!["telegram", "vip"]);
        assert_eq!(
            merged.custom_fields.get("city").map(String::as_str),
            Some("Казань")
        );
        assert_eq!(merged.identities.len(), 3);
        let gone = svc
            .get_contact(&ctx(), &duplicate.id)
            .await
            .expect("merged still readable");
        assert_eq!(gone.merged_into.as_deref(), Some(survivor.id.as_str()));
        assert!(gone.deleted_at.is_some() && gone.identities.is_empty() && gone.tags.is_empty());
        assert_eq!(
            outbox_types(&t).await.last().map(String::as_str),
            Some("contact.merged")
        );
        let err = svc
            .merge_contacts(&ctx(), &survivor.id, &survivor.id)
            .await
            .expect_err("self merge");
        assert!(matches!(err, ContactsError::Invalid(_)));
    }
}

/// The names of the contacts `query` finds, page by page of `size`.
async fn names_found(svc: &ContactsService, query: &str, size: i64) -> Vec<String> {
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let filter = ContactFilter {
            query: Some(query.into()),
            ..Default::default()
        };
        let paged = (svc
            .list_contacts(&ctx(), filter, Page { size, after })
            .await)
            .expect("page");
        found.extend(paged.items.into_iter().map(|c| c.name));
        match paged.next {
            Some(next) => after = Some(next),
            None => return found,
        }
    }
}

#[tokio::test]
async fn lists_filter_and_paginate_by_cursor() {
    for t in all_backends().await {
        let svc = service(&t);
        for i in 0..7 {
            svc.create_contact(
                &ctx(),
                NewContact {
                    name: format!("Client {i}"),
                    owner_id: if i % 2 == 0 { "even" } else { "odd" }.into(),
                    tags: if i < 3 { vec!["vip".into()] } else { vec![] },
                    identities: vec![phone(&format!("+7 912 000-00-0{i}"))],
                    ..Default::default()
                },
            )
            .await
            .expect("create");
        }
        let mut names = Vec::new();
        let mut after = None;
        loop {
            let paged = svc
                .list_contacts(&ctx(), ContactFilter::default(), Page { size: 3, after })
                .await
                .expect("page");
            names.extend(paged.items.into_iter().map(|c| c.name));
            match paged.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = (0..7).rev().map(|i| format!("Client {i}")).collect();
        assert_eq!(names, expected, "newest first, every contact once");

        let by = |filter: ContactFilter| {
            let svc = svc.clone();
            async move {
                let paged = svc
                    .list_contacts(&ctx(), filter, page(50))
                    .await
                    .expect("list");
                paged.items.len()
            }
        };
        assert_eq!(
            by(ContactFilter {
                tag: Some("VIP".into()),
                ..Default::default()
            })
            .await,
            3
        );
        assert_eq!(
            by(ContactFilter {
                owner_id: Some("odd".into()),
                ..Default::default()
            })
            .await,
            3
        );
        assert_eq!(
            by(ContactFilter {
                query: Some("client 4".into()),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            by(ContactFilter {
                query: Some("0000005".into()),
                ..Default::default()
            })
            .await,
            1
        );
        assert_eq!(
            by(ContactFilter {
                query: Some("+79120000005".into()),
                ..Default::default()
            })
            .await,
            1,
            "a whole number (in E.164, as gRPC's edge makes any way of writing it)"
        );
        assert_eq!(
            by(ContactFilter {
                query: Some("%".into()),
                ..Default::default()
            })
            .await,
            0,
            "LIKE wildcards are literal"
        );

        // "2" is in Client 2's name and in every number (+7 912 …): found by name and
        // by number, each contact once, newest first, page after page.
        let found = names_found(&svc, "2", 3).await;
        assert_eq!(found, expected, "by name or number, each once");

        // Found by name only and by number only, made in turns: one a page, the
        // pages still go newest first and miss nobody.
        let mut made = Vec::new();
        for k in 0..4 {
            let (name, number) = match k % 2 {
                0 => (format!("Дом 4242 {k}"), format!("+7 900 100-00-0{k}")),
                _ => (format!("Клиент {k}"), format!("+7 900 424-20-0{k}")),
            };
            let new = NewContact {
                name: name.clone(),
                identities: vec![phone(&number)],
                ..Default::default()
            };
            svc.create_contact(&ctx(), new).await.expect("create");
            made.insert(0, name);
        }
        let found = names_found(&svc, "4242", 1).await;
        assert_eq!(found, made, "by name and by number in turns, page by page");
        // A part of a number as long as a whole one: found as a part.
        let part = ContactFilter {
            query: Some("+79120000".into()),
            ..Default::default()
        };
        let paged = svc
            .list_contacts(&ctx(), part, page(50))
            .await
            .expect("list");
        assert_eq!(paged.items.len(), 7, "a part of a number");
    }
}

#[tokio::test]
async fn unknown_ids_are_not_found_and_change_nothing() {
    for t in all_backends().await {
        let svc = service(&t);
        let missing = "0190c3c4-0000-7000-8000-000000000000";
        assert!(matches!(
            svc.get_contact(&ctx(), missing).await,
            Err(ContactsError::NotFound { .. })
        ));
        let patch = ContactPatch {
            name: Some("x".into()),
            ..Default::default()
        };
        assert!(matches!(
            svc.update_contact(&ctx(), missing, patch).await,
            Err(ContactsError::NotFound { .. })
        ));
        let new = NewContact {
            name: "With a ghost company".into(),
            company_id: Some(missing.into()),
            ..Default::default()
        };
        assert!(matches!(
            svc.create_contact(&ctx(), new).await,
            Err(ContactsError::NotFound {
                kind: "company",
                ..
            })
        ));
        assert!(matches!(
            svc.get_lead(&ctx(), missing).await,
            Err(ContactsError::NotFound { .. })
        ));
        assert_eq!(count(&t, "contacts").await, 0);
        assert_eq!(count(&t, "outbox").await, 0);
    }
}

#[tokio::test]
async fn a_person_with_several_identities_lands_on_whoever_holds_one_or_becomes_one_lead() {
    for t in all_backends().await {
        let svc = service(&t);
        let contact = ivan(&svc).await;
        let source = LeadSource {
            channel: "web".into(),
            campaign: "spring".into(),
        };
        // Ivan's email with a phone nobody holds: Ivan, and no lead.
        let known = Person {
            identities: vec![phone("+7 999 000-00-01"), email("ivan@example.com")],
            name: "Ivan from the site".into(),
            company_name: String::new(),
            source: source.clone(),
            ..Person::default()
        };
        let resolved = svc.resolve_person(&ctx(), known).await.expect("resolve");
        assert!(matches!(&resolved.party, Party::Contact(c) if c.id == contact.id));
        assert_eq!(count(&t, "leads").await, 0, "{:?}", t.backend());

        // A stranger's phone and email: one lead that holds both, with the company.
        let stranger = Person {
            identities: vec![email("anna@example.org"), phone("+7 999 000-00-02")],
            name: "Анна".into(),
            company_name: "Лютик".into(),
            source,
            ..Person::default()
        };
        let first = svc
            .resolve_person(&ctx(), stranger.clone())
            .await
            .expect("resolve");
        assert!(first.created);
        assert_eq!(first.company_name, "Лютик");
        let Party::Lead(lead) = &first.party else {
            panic!("a lead, got {:?}", first.party)
        };
        assert_eq!(lead.identities.len(), 2, "{:?}", lead.identities);
        assert_eq!(lead.source.campaign, "spring");
        // Later, by phone alone: the same lead.
        let later = svc
            .resolve(&ctx(), phone("8 999 000 00 02"), "", LeadSource::default())
            .await
            .expect("resolve");
        assert!(!later.created);
        assert!(matches!(&later.party, Party::Lead(l) if l.id == lead.id));
        assert_eq!(count(&t, "leads").await, 1);
    }
}

/// The real staff service on the test database, with these people, reached the way
/// contacts reaches it in the all-in-one mode (a gRPC router in this process, behind
/// the guard). Presence is not asked: offline agents are not skipped here.
async fn staff(t: &TestDb, people: &[(&str, &str)]) -> Assigner {
    let directory = StaffService::new(t.db.clone());
    for (id, role) in people {
        let spec = UserSpec {
            name: (*id).to_owned(),
            role: (*role).to_owned(),
            ..UserSpec::default()
        };
        directory
            .create_user("admin", Some((*id).to_owned()), spec)
            .await
            .expect("a person");
    }
    let key = TokenKey::generate();
    let server = Guarded::new(
        StaffGrpc::new(directory, key.clone()).into_server(),
        key.clone(),
    );
    let routes = tonic::service::Routes::new(server);
    let staff = PeerChannel::serving(routes, key.clone(), "contacts");
    let nobody_online = PeerChannel::serving(tonic::service::Routes::default(), key, "contacts");
    Assigner::new(staff, nobody_online, AssignConfig::default())
}

#[tokio::test]
async fn new_leads_from_resolve_go_round_robin_to_the_agents_and_known_people_keep_theirs() {
    for t in all_backends().await {
        let staff = staff(
            &t,
            &[("olga", "agent"), ("boss", "manager"), ("ivan", "agent")],
        )
        .await;
        let svc = service(&t).with_assigner(staff);
        let mut owners = Vec::new();
        for n in 1..=5 {
            let who = email(&format!("stranger{n}@example.org"));
            let resolved = svc
                .resolve(&ctx(), who, "", LeadSource::default())
                .await
                .expect("resolve");
            let Party::Lead(lead) = resolved.party else {
                panic!("a lead")
            };
            owners.push(lead.owner_id);
        }
        assert_eq!(
            owners,
            ["ivan", "olga", "ivan", "olga", "ivan"],
            "{:?}",
            t.backend()
        );
        // Someone already known keeps their owner, and takes no turn.
        let again = svc
            .resolve(
                &ctx(),
                email("stranger1@example.org"),
                "",
                LeadSource::default(),
            )
            .await
            .expect("resolve");
        assert!(matches!(&again.party, Party::Lead(l) if l.owner_id == "ivan"));
        let next = svc
            .resolve(
                &ctx(),
                email("stranger6@example.org"),
                "",
                LeadSource::default(),
            )
            .await
            .expect("resolve");
        assert!(matches!(&next.party, Party::Lead(l) if l.owner_id == "olga"));
    }
}

#[tokio::test]
async fn a_lookup_only_resolve_never_creates_a_lead() {
    for t in all_backends().await {
        let svc = service(&t);
        let contact = ivan(&svc).await;
        let lookup = |who: Identity| Person {
            identities: vec![who],
            lookup_only: true,
            ..Person::default()
        };
        let known = svc
            .resolve_person(&ctx(), lookup(email("ivan@example.com")))
            .await
            .expect("known");
        assert!(matches!(&known.party, Party::Contact(c) if c.id == contact.id));
        let stranger = svc
            .resolve_person(&ctx(), lookup(email("noreply@example.org")))
            .await;
        assert!(
            matches!(stranger, Err(ContactsError::NotFound { .. })),
            "{stranger:?}"
        );
        assert_eq!(count(&t, "leads").await, 0);
    }
}

#[tokio::test]
async fn strangers_arriving_at_once_are_shared_out_evenly() {
    for t in all_backends().await {
        let staff = staff(&t, &[("olga", "agent"), ("ivan", "agent")]).await;
        let svc = service(&t).with_assigner(staff);
        let resolving = (0..20).map(|n| {
            let svc = svc.clone();
            async move {
                let who = email(&format!("rush{n}@example.org"));
                svc.resolve(&ctx(), who, "", LeadSource::default()).await
            }
        });
        let mut olga = 0;
        for resolved in futures::future::join_all(resolving).await {
            match resolved.expect("resolve").party {
                Party::Lead(l) if l.owner_id == "olga" => olga += 1,
                Party::Lead(l) => assert_eq!(l.owner_id, "ivan"),
                other => panic!("a lead, got {other:?}"),
            }
        }
        assert_eq!(
            olga,
            10,
            "turns are taken one after the other: {:?}",
            t.backend()
        );
    }
}

#[tokio::test]
async fn a_vouched_identity_joins_the_person_found_and_a_held_one_stays_with_its_holder() {
    for t in all_backends().await {
        let svc = service(&t);
        let ivan = ivan(&svc).await;
        let anna = svc
            .resolve(
                &ctx(),
                phone("8 900 111 22 33"),
                "Анна",
                LeadSource::default(),
            )
            .await
            .expect("anna");
        let vouched = |also: Vec<Identity>, claim_also: bool| Person {
            identities: std::iter::once(email("ivan@example.com"))
                .chain(also)
                .collect(),
            claim_also,
            ..Person::default()
        };
        // Not vouched for (a form could say anything): nothing joins.
        let found = svc
            .resolve_person(&ctx(), vouched(vec![phone("8 900 444 55 66")], false))
            .await
            .expect("resolve");
        assert!(matches!(&found.party, Party::Contact(c) if c.identities.len() == 2));
        // Vouched for: the free number joins Ivan; Anna's stays Anna's.
        let found = svc
            .resolve_person(
                &ctx(),
                vouched(
                    vec![phone("8 900 444 55 66"), phone("8 900 111 22 33")],
                    true,
                ),
            )
            .await
            .expect("resolve");
        let Party::Contact(contact) = &found.party else {
            panic!("ivan, got {:?}", found.party)
        };
        assert_eq!(contact.id, ivan.id, "{:?}", t.backend());
        assert!(contact.identities.contains(&phone("8 900 444 55 66")));
        assert!(!contact.identities.contains(&phone("8 900 111 22 33")));
        let anna_now = svc
            .lookup_by_phone(&ctx(), "+79001112233")
            .await
            .expect("lookup")
            .expect("anna");
        assert!(
            matches!((&anna_now, &anna.party), (Party::Lead(a), Party::Lead(b)) if a.id == b.id)
        );
        assert_eq!(count(&t, "leads").await, 1);
    }
}

/// Hole 6 of "nothing lost": a double-clicked conversion makes one contact and one
/// company; two people merging two records into each other at once leave one of
/// them, never neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_conversions_and_crossing_merges_leave_one_winner() {
    for t in all_backends().await {
        let b = t.backend();
        let svc = service(&t);
        let lead = svc
            .create_lead(
                &ctx(),
                NewLead {
                    name: "Двойной клик".into(),
                    company_name: "ООО Спешка".into(),
                    identities: vec![phone("+7 916 000-00-77")],
                    owner_id: "agent-1".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("lead");
        let conversions = (0..8).map(|_| {
            let (svc, id) = (svc.clone(), lead.id.clone());
            tokio::spawn(async move {
                let convert = ConvertLead {
                    lead_id: id,
                    ..Default::default()
                };
                svc.convert_lead(&ctx(), convert)
                    .await
                    .map(|(_, c, _)| c.id)
            })
        });
        let results = futures::future::join_all(conversions).await;
        let mut made = Vec::new();
        for result in results {
            match result.expect("task") {
                Ok(id) => made.push(id),
                // The losers find the lead converted: no deadlock, no other error.
                Err(ContactsError::FailedPrecondition(_)) => {}
                Err(e) => panic!("{b:?}: {e:?}"),
            }
        }
        assert_eq!(made.len(), 1, "{b:?}: one conversion wins: {made:?}");
        assert_eq!(count(&t, "contacts").await, 1, "{b:?}: one contact");
        assert_eq!(count(&t, "companies").await, 1, "{b:?}: one company");

        // Crossing merges: A into B and B into A at the same moment.
        let mut ids = Vec::new();
        for name in ["Анна", "Анна К."] {
            let c = svc
                .create_contact(
                    &ctx(),
                    NewContact {
                        name: name.into(),
                        ..Default::default()
                    },
                )
                .await
                .expect("contact");
            ids.push(c.id);
        }
        let (a, bb) = (ids[0].clone(), ids[1].clone());
        let merges = [(a.clone(), bb.clone()), (bb.clone(), a.clone())].map(|(into, from)| {
            let svc = svc.clone();
            tokio::spawn(async move { svc.merge_contacts(&ctx(), &into, &from).await })
        });
        let outcomes = futures::future::join_all(merges).await;
        let won = (outcomes.iter()).filter(|r| matches!(r, Ok(Ok(_)))).count();
        assert_eq!(won, 1, "{b:?}: one merge wins: {outcomes:?}");
        assert!(
            (outcomes.iter()).all(|r| matches!(
                r,
                Ok(Ok(_)
                    | Err(ContactsError::FailedPrecondition(_) | ContactsError::NotFound { .. }))
            )),
            "{b:?}: the loser finds its contact merged away: {outcomes:?}"
        );
        let mut alive = 0;
        for id in [&a, &bb] {
            let found = svc.get_contact(&ctx(), id).await;
            alive += usize::from(found.is_ok_and(|c| c.deleted_at.is_none()));
        }
        assert_eq!(alive, 1, "{b:?}: one of the two stays");

        // Two people changing different details at once: both changes stand.
        let a_stays = (svc.get_contact(&ctx(), &a).await).is_ok_and(|c| c.deleted_at.is_none());
        let survivor = if a_stays { a } else { bb };
        let patches = [
            ContactPatch {
                name: Some("Анна Кузнецова".into()),
                ..Default::default()
            },
            ContactPatch {
                tags: Some(vec!["vip".into()]),
                ..Default::default()
            },
        ]
        .map(|patch| {
            let (svc, id) = (svc.clone(), survivor.clone());
            tokio::spawn(async move { svc.update_contact(&ctx(), &id, patch).await })
        });
        for done in futures::future::join_all(patches).await {
            done.expect("task").expect("updated");
        }
        let after = svc.get_contact(&ctx(), &survivor).await.expect("contact");
        assert_eq!(
            (after.name.as_str(), after.tags.as_slice()),
            ("Анна Кузнецова", ["vip".to_owned()].as_slice()),
            "{b:?}"
        );
    }
}
