//! The deals service's behaviour on every backend available to the run: SQLite
//! always, PostgreSQL when `RINGSIDE_TEST_DATABASE_URL` is set. Each scenario runs on
//! a fresh database with the real contacts service behind the link checks.

mod common;

use std::collections::{BTreeMap, HashSet};

use common::{Harness, contacts_ctx, ctx, page};
use ringside_bus::{EventPayload, new_envelope};
use ringside_deals::DealsError;
use ringside_deals::model::{
    ContactRole, Ctx, DealContact, DealPatch, Filter, Move, NewDeal, Sort, SortField, StageKind,
    StagePatch, parse_day, today,
};
use ringside_deals::reports::{Cell, Cohort, Splits, Whose};
use ringside_identity::paging::Page;
use ringside_proto::activities::v1 as apb;
use ringside_proto::events::v1 as ev;
use ringside_storage::testing::all_backends;
use ringside_storage::{now_millis, testing::TestDb};

/// What a seeded deal was made with: owner, amount, currency, close day, tag.
type Seeded = (String, i64, String, Option<i64>, String);

async fn each_backend() -> Vec<TestDb> {
    all_backends().await
}

#[tokio::test]
async fn a_deal_moves_through_its_pipeline_with_the_full_history() {
    for t in each_backend().await {
        let h = Harness::new(t).await;
        // The default pipeline exists once, however many replicas start.
        let other = Harness::replica(&h.t, &h.contacts);
        let first = other.ensure_default_pipeline().await.unwrap();
        assert_eq!(h.count("deal_pipelines").await, 1);
        assert!(first.is_default);
        let kinds: Vec<_> = first.stages.iter().map(|s| s.kind).collect();
        assert_eq!(kinds.last(), Some(&StageKind::Lost));

        let company = h
            .contacts
            .create_company(&contacts_ctx(), "Acme", "olga")
            .await
            .unwrap();
        let anna = h.contact("Anna").await;
        let new = NewDeal {
            title: "Acme: 40 seats".into(),
            amount_minor: 1_250_000,
            currency: "EUR".into(),
            owner_id: "olga".into(),
            company_id: Some(company.id.clone()),
            contacts: vec![DealContact {
                contact_id: anna.id.clone(),
                role: ContactRole::DecisionMaker,
            }],
            close_day: Some(parse_day("d", "2026-12-20").unwrap()),
            tags: vec!["b2b".into()],
            ..NewDeal::default()
        };
        let (deal, warnings) = h.svc.create_deal(&ctx("olga"), new).await.unwrap();
        assert!(warnings.is_empty());
        assert_eq!(
            deal.stage_id, first.stages[0].id,
            "opens in the first stage"
        );
        let got = h.svc.get_deal(&ctx("admin"), &deal.id).await.unwrap();
        assert_eq!(got.contacts[0].role, ContactRole::DecisionMaker);
        assert_eq!(got.tags, vec!["b2b"]);

        let s = &first.stages;
        h.svc
            .move_deal(&ctx("olga"), &deal.id, Move::To(s[2].id.clone()))
            .await
            .unwrap();
        h.svc
            .move_deal(&ctx("ivan"), &deal.id, Move::To(s[1].id.clone()))
            .await
            .unwrap();
        let (won, _) = h
            .svc
            .move_deal(&ctx("olga"), &deal.id, Move::Win)
            .await
            .unwrap();
        assert_eq!(won.status, StageKind::Won);
        assert!(won.closed_at.is_some());
        // A won deal does not move until it is reopened.
        let err = h
            .svc
            .move_deal(&ctx("olga"), &deal.id, Move::To(s[0].id.clone()))
            .await
            .unwrap_err();
        assert!(matches!(err, DealsError::FailedPrecondition(_)), "{err}");
        let (reopened, _) = h
            .svc
            .move_deal(&ctx("olga"), &deal.id, Move::Reopen(None))
            .await
            .unwrap();
        assert_eq!(
            reopened.stage_id, s[1].id,
            "back to the last open stage it was in"
        );
        assert_eq!(reopened.closed_at, None);
        let (lost, _) = h
            .svc
            .move_deal(&ctx("olga"), &deal.id, Move::Lose("price".into()))
            .await
            .unwrap();
        assert_eq!(
            (lost.status, lost.lost_reason.as_str()),
            (StageKind::Lost, "price")
        );

        let stays = h.svc.history(&ctx("admin"), &deal.id).await.unwrap();
        let names: Vec<_> = stays.iter().map(|s| s.stage_name.as_str()).collect();
        assert_eq!(
            names,
            ["New", "Proposal", "Qualified", "Won", "Qualified", "Lost"]
        );
        assert_eq!(stays[2].moved_by, "ivan");
        assert!(stays[..5].iter().all(|s| s.left_at.is_some()));
        assert_eq!(stays[5].left_at, None);

        // Events: one created, one stage change per move, with the closing kind.
        assert_eq!(h.events("deal.created").await.len(), 1);
        let changes = h.events("deal.stage_changed").await;
        assert_eq!(changes.len(), 5);
        let Some(EventPayload::DealStageChanged(last)) = &changes[4].payload else {
            panic!("a stage change");
        };
        assert_eq!(
            last.to_kind,
            ringside_proto::deals::v1::StageKind::Lost as i32
        );
        assert_eq!(last.lost_reason, "price");
        assert_eq!(last.contact_ids, vec![anna.id.clone()]);

        // An update changes fields and says so; tags and contacts are replaced.
        let patch = DealPatch {
            amount_minor: Some(900_000),
            tags: Some(vec!["renewal".into()]),
            contacts: Some(Vec::new()),
            ..DealPatch::default()
        };
        let updated = h
            .svc
            .update_deal(&ctx("olga"), &deal.id, patch)
            .await
            .unwrap();
        assert_eq!(updated.amount_minor, 900_000);
        let again = h.svc.get_deal(&ctx("admin"), &deal.id).await.unwrap();
        assert_eq!(
            (again.tags.clone(), again.contacts.len()),
            (vec!["renewal".to_owned()], 0)
        );
        assert_eq!(again.title, "Acme: 40 seats", "untouched fields stay");
        assert_eq!(h.events("deal.updated").await.len(), 1);
    }
}

#[tokio::test]
async fn bad_input_is_refused_and_writes_nothing() {
    for t in each_backend().await {
        let h = Harness::new(t).await;
        let sales = h.svc.pipeline(None).await.unwrap();
        let other = h.pipeline("Partners", &["Intro", "Pilot"]).await;
        let id = h.deal(&sales, "Deal", "olga").await;
        let (won, _) = h.svc.move_deal(&ctx("olga"), &id, Move::Win).await.unwrap();
        assert_eq!(won.status, StageKind::Won);
        let open = h.deal(&sales, "Open deal", "olga").await;
        let before = h.footprint().await;

        // A stage of another pipeline.
        let err = h
            .svc
            .move_deal(&ctx("olga"), &open, Move::To(other.stages[0].id.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, DealsError::Invalid(ref i) if i.field == "stage_id"),
            "{err}"
        );
        let create_there = NewDeal {
            title: "x".into(),
            pipeline_id: Some(sales.id.clone()),
            stage_id: Some(other.stages[1].id.clone()),
            currency: "EUR".into(),
            ..NewDeal::default()
        };
        assert!(matches!(
            h.svc.create_deal(&ctx("olga"), create_there).await,
            Err(DealsError::Invalid(_))
        ));
        // Moving into the won stage directly, or a won deal without reopening.
        let won_stage = sales.closing_stage(StageKind::Won).unwrap().id.clone();
        assert!(matches!(
            h.svc
                .move_deal(&ctx("olga"), &open, Move::To(won_stage))
                .await,
            Err(DealsError::Invalid(_))
        ));
        assert!(matches!(
            h.svc
                .move_deal(&ctx("olga"), &id, Move::Lose("late".into()))
                .await,
            Err(DealsError::FailedPrecondition(_))
        ));
        assert!(matches!(
            h.svc
                .move_deal(&ctx("olga"), &open, Move::Reopen(None))
                .await,
            Err(DealsError::FailedPrecondition(_))
        ));
        // Unknown links, an unknown deal, an unknown pipeline.
        let ghost_company = NewDeal {
            title: "x".into(),
            currency: "EUR".into(),
            company_id: Some("no-such-company".into()),
            ..NewDeal::default()
        };
        assert!(matches!(
            h.svc.create_deal(&ctx("olga"), ghost_company).await,
            Err(DealsError::Invalid(ref i)) if i.field == "company_id"
        ));
        let ghost_contact = DealPatch {
            contacts: Some(vec![DealContact {
                contact_id: "no-such-contact".into(),
                role: ContactRole::User,
            }]),
            ..DealPatch::default()
        };
        assert!(matches!(
            h.svc.update_deal(&ctx("olga"), &open, ghost_contact).await,
            Err(DealsError::Invalid(_))
        ));
        let ghost_added = DealPatch {
            set_contacts: vec![DealContact {
                contact_id: "no-such-contact".into(),
                role: ContactRole::User,
            }],
            ..DealPatch::default()
        };
        assert!(matches!(
            h.svc.update_deal(&ctx("olga"), &open, ghost_added).await,
            Err(DealsError::Invalid(_))
        ));
        assert!(matches!(
            h.svc.move_deal(&ctx("olga"), "nope", Move::Win).await,
            Err(DealsError::NotFound { .. })
        ));
        assert!(matches!(
            h.svc.history(&ctx("admin"), "nope").await,
            Err(DealsError::NotFound { .. })
        ));
        let ghost_pipeline = NewDeal {
            title: "x".into(),
            currency: "EUR".into(),
            pipeline_id: Some("nope".into()),
            ..NewDeal::default()
        };
        assert!(matches!(
            h.svc.create_deal(&ctx("olga"), ghost_pipeline).await,
            Err(DealsError::NotFound { .. })
        ));
        // A bad stage setting.
        let bad_stage = StagePatch {
            probability: Some(140),
            ..StagePatch::default()
        };
        assert!(
            h.svc
                .update_stage(&sales.stages[0].id, bad_stage)
                .await
                .is_err()
        );
        // A pipeline renamed to nothing, or one that does not exist.
        assert!(matches!(
            h.svc.rename_pipeline(&sales.id, "  ").await,
            Err(DealsError::Invalid(_))
        ));
        assert!(matches!(
            h.svc.rename_pipeline("nope", "Продажи").await,
            Err(DealsError::NotFound { .. })
        ));
        assert_eq!(h.footprint().await, before, "nothing was written");
        assert_eq!(h.svc.pipeline(None).await.unwrap(), sales);
        let renamed = h.svc.rename_pipeline(&sales.id, "Продажи").await.unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.stages),
            ("Продажи", sales.stages)
        );
    }
}

#[test]
fn wire_requests_with_bad_money_dates_or_enums_are_refused() {
    use ringside_deals::convert::{filter_from_proto, new_deal_from_proto};
    use ringside_proto::deals::v1 as pb;
    let good = pb::CreateDealRequest {
        title: "Deal".into(),
        amount_minor: 100,
        currency: "eur".into(),
        expected_close: "2026-12-31".into(),
        ..Default::default()
    };
    let deal = new_deal_from_proto(good.clone()).expect("valid");
    assert_eq!(deal.currency, "EUR");
    let cases = [
        pb::CreateDealRequest {
            amount_minor: -1,
            ..good.clone()
        },
        pb::CreateDealRequest {
            currency: "EURO".into(),
            ..good.clone()
        },
        pb::CreateDealRequest {
            currency: "".into(),
            ..good.clone()
        },
        pb::CreateDealRequest {
            title: " ".into(),
            ..good.clone()
        },
        pb::CreateDealRequest {
            expected_close: "31.12.2026".into(),
            ..good.clone()
        },
        pb::CreateDealRequest {
            contacts: vec![pb::DealContact {
                contact_id: "c".into(),
                role: 99,
            }],
            ..good.clone()
        },
    ];
    for case in cases {
        assert!(new_deal_from_proto(case.clone()).is_err(), "{case:?}");
    }
    let bad_filter = pb::DealFilter {
        status: 42,
        ..Default::default()
    };
    assert!(filter_from_proto(Some(&bad_filter), &ctx("olga")).is_err());
    let me = pb::DealFilter {
        owner_id: "me".into(),
        ..Default::default()
    };
    let f = filter_from_proto(Some(&me), &ctx("olga")).unwrap();
    assert_eq!(f.owner_id.as_deref(), Some("olga"));
}

#[tokio::test]
async fn wip_limits_warn_or_refuse_even_when_moves_race() {
    for t in each_backend().await {
        let h = Harness::new(t).await;
        let p = h.pipeline("Ops", &["Queue", "Doing", "Review"]).await;
        let (doing, review) = (p.stages[1].id.clone(), p.stages[2].id.clone());
        h.svc
            .update_stage(
                &doing,
                StagePatch {
                    wip_limit: Some(2),
                    wip_refuse: Some(false),
                    ..StagePatch::default()
                },
            )
            .await
            .unwrap();
        h.svc
            .update_stage(
                &review,
                StagePatch {
                    wip_limit: Some(3),
                    wip_refuse: Some(true),
                    ..StagePatch::default()
                },
            )
            .await
            .unwrap();
        let mut ids = Vec::new();
        for i in 0..10 {
            ids.push(h.deal(&p, &format!("d{i}"), "olga").await);
        }
        for (i, id) in ids.iter().take(3).enumerate() {
            let (_, warnings) = h
                .svc
                .move_deal(&ctx("olga"), id, Move::To(doing.clone()))
                .await
                .unwrap();
            assert_eq!(
                warnings.is_empty(),
                i < 2,
                "the third move into Doing warns"
            );
        }
        // Ten replicas race ten deals into Review (limit 3, refuse): three get in.
        let moves = ids.iter().map(|id| {
            let svc = Harness::replica(&h.t, &h.contacts);
            let to = Move::To(review.clone());
            async move { svc.move_deal(&ctx("olga"), id, to).await }
        });
        let results = futures::future::join_all(moves).await;
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(DealsError::FailedPrecondition(_))))
            .count();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            3,
            "{results:?}"
        );
        assert_eq!(refused, 7);
        let in_review = format!("stage_id = '{review}'");
        assert_eq!(h.count_where("deals", &in_review).await, 3);
        let (_, columns) = h
            .svc
            .kanban(
                &ctx("admin"),
                &Filter {
                    pipeline_id: Some(p.id.clone()),
                    ..Filter::default()
                },
                Sort::default(),
                5,
            )
            .await
            .unwrap();
        let counts: Vec<_> = columns.iter().map(|c| c.count).collect();
        assert_eq!((counts[0] + counts[1], counts[2]), (7, 3), "{counts:?}");
        // Two more into Doing (limit 2, warn): it is over its limit, and the column
        // says so even when a filter shows none of its deals.
        for i in 0..3 {
            let id = h.deal(&p, &format!("late {i}"), "olga").await;
            h.svc
                .move_deal(&ctx("olga"), &id, Move::To(doing.clone()))
                .await
                .unwrap();
        }
        let nobody = Filter {
            pipeline_id: Some(p.id.clone()),
            owner_id: Some("nobody".into()),
            ..Filter::default()
        };
        let filtered = h
            .svc
            .column(&ctx("admin"), &nobody, Sort::default(), &doing, page(5))
            .await
            .unwrap();
        assert_eq!((filtered.count, filtered.over_wip_limit), (0, true));
        let review_column = h
            .svc
            .column(&ctx("admin"), &nobody, Sort::default(), &review, page(5))
            .await
            .unwrap();
        assert!(!review_column.over_wip_limit, "Review is full, not over");
    }
}

/// Every deal of a list, through all its pages.
async fn all_pages(h: &Harness, filter: &Filter, sort: Sort, size: i64) -> Vec<String> {
    let mut seen = Vec::new();
    let mut page = Page { size, after: None };
    loop {
        let (paged, total) = h
            .svc
            .list(&ctx("admin"), filter, sort, page.clone())
            .await
            .unwrap();
        seen.extend(paged.items.iter().map(|d| d.id.clone()));
        match paged.next {
            Some(next) => page.after = Some(next),
            None => {
                assert_eq!(seen.len() as i64, total, "total matches the pages");
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn deals_are_found_by_a_part_of_their_title_in_any_case_and_script() {
    for t in each_backend().await {
        let h = Harness::new(t).await;
        let mut made = Vec::new();
        for title in [
            "Поставка Оборудования",
            "Service contract",
            "ОБОРУДОВАНИЕ: монтаж",
        ] {
            let new = NewDeal {
                title: title.into(),
                currency: "RUB".into(),
                owner_id: "olga".into(),
                ..NewDeal::default()
            };
            made.push(h.svc.create_deal(&ctx("olga"), new).await.unwrap().0.id);
        }
        let found = |q: &'static str| {
            let h = &h;
            async move {
                let filter = Filter {
                    query: Some(q.into()),
                    ..Filter::default()
                };
                let ids = all_pages(h, &filter, Sort::default(), 10).await;
                ids.into_iter().collect::<HashSet<_>>()
            }
        };
        let equipment: HashSet<String> = [made[0].clone(), made[2].clone()].into();
        assert_eq!(found("оборудован").await, equipment);
        assert_eq!(found("contract").await, [made[1].clone()].into());
        assert!(found("%").await.is_empty(), "LIKE wildcards are literal");

        // Deals kept before titles were lower-cased are found once the service has
        // filled them in (it does when it starts).
        sqlx::query("UPDATE deals SET title_lower = NULL")
            .execute(h.t.db.pool())
            .await
            .unwrap();
        assert!(found("оборудован").await.is_empty());
        h.svc.fill_title_lower().await.unwrap();
        assert_eq!(found("оборудован").await, equipment);
    }
}

#[tokio::test]
async fn list_and_kanban_filter_sort_and_page_consistently() {
    for t in each_backend().await {
        let h = Harness::new(t).await;
        let p = h.svc.pipeline(None).await.unwrap();
        let today = today();
        let mut expected: BTreeMap<String, Seeded> = BTreeMap::new();
        for i in 0..37_i64 {
            let owner = ["olga", "ivan", "petr"][i as usize % 3];
            let currency = ["EUR", "RUB"][i as usize % 2];
            let new = NewDeal {
                title: format!("deal {i}"),
                pipeline_id: Some(p.id.clone()),
                stage_id: Some(p.stages[(i % 4) as usize].id.clone()),
                amount_minor: (i % 7) * 1000,
                currency: currency.into(),
                owner_id: owner.into(),
                close_day: (i % 6 != 0).then_some(today - 10 + i),
                tags: if i % 5 == 0 {
                    vec!["vip".into()]
                } else {
                    vec![]
                },
                ..NewDeal::default()
            };
            let (d, _) = h.svc.create_deal(&ctx(owner), new).await.unwrap();
            let tag = if i % 5 == 0 { "vip" } else { "" };
            expected.insert(
                d.id,
                (
                    owner.into(),
                    (i % 7) * 1000,
                    currency.into(),
                    (i % 6 != 0).then_some(today - 10 + i),
                    tag.into(),
                ),
            );
        }
        let pick = |f: &dyn Fn(&Seeded) -> bool| -> HashSet<String> {
            expected
                .iter()
                .filter(|(_, v)| f(v))
                .map(|(k, _)| k.clone())
                .collect()
        };
        let base = Filter {
            pipeline_id: Some(p.id.clone()),
            ..Filter::default()
        };
        let cases: Vec<(Filter, HashSet<String>)> = vec![
            (
                Filter {
                    owner_id: Some("ivan".into()),
                    ..base.clone()
                },
                pick(&|v| v.0 == "ivan"),
            ),
            (
                Filter {
                    tag: Some("vip".into()),
                    ..base.clone()
                },
                pick(&|v| v.4 == "vip"),
            ),
            (
                Filter {
                    amount_min: Some(2000),
                    amount_max: Some(4000),
                    ..base.clone()
                },
                pick(&|v| (2000..=4000).contains(&v.1)),
            ),
            (
                Filter {
                    close_from: Some(today),
                    close_to: Some(today + 5),
                    ..base.clone()
                },
                pick(&|v| v.3.is_some_and(|d| (today..=today + 5).contains(&d))),
            ),
            (
                Filter {
                    overdue_close: true,
                    ..base.clone()
                },
                pick(&|v| v.3.is_some_and(|d| d < today)),
            ),
            (
                Filter {
                    no_close_date: true,
                    ..base.clone()
                },
                pick(&|v| v.3.is_none()),
            ),
            (
                Filter {
                    currency: Some("RUB".into()),
                    ..base.clone()
                },
                pick(&|v| v.2 == "RUB"),
            ),
            (
                Filter {
                    no_next_action: true,
                    ..base.clone()
                },
                pick(&|_| true),
            ),
        ];
        for (filter, want) in &cases {
            for sort in [
                Sort::default(),
                Sort {
                    field: SortField::Amount,
                    ascending: true,
                },
                Sort {
                    field: SortField::ExpectedClose,
                    ascending: false,
                },
            ] {
                let got = all_pages(&h, filter, sort, 4).await;
                let unique: HashSet<_> = got.iter().cloned().collect();
                assert_eq!(unique.len(), got.len(), "no deal twice across pages");
                assert_eq!(&unique, want, "{filter:?} {sort:?}");
            }
        }
        // Sorted by amount, ascending, the amounts never go down.
        let by_amount = all_pages(
            &h,
            &base,
            Sort {
                field: SortField::Amount,
                ascending: true,
            },
            5,
        )
        .await;
        let amounts: Vec<i64> = by_amount.iter().map(|id| expected[id].1).collect();
        assert!(amounts.windows(2).all(|w| w[0] <= w[1]), "{amounts:?}");

        // A next action from activities takes a deal out of "no next action".
        let flagged = expected.keys().next().unwrap().clone();
        let next = ev::NextActionChanged {
            kind: apb::SubjectKind::Deal as i32,
            id: flagged.clone(),
            task: Some(apb::Task {
                id: "task-1".into(),
                title: "Send the offer".into(),
                ..Default::default()
            }),
        };
        let envelope = new_envelope("activities", "c", EventPayload::NextActionChanged(next));
        h.deliver(&envelope).await;
        h.deliver(&envelope).await; // a redelivery changes nothing
        let without = all_pages(
            &h,
            &Filter {
                no_next_action: true,
                ..base.clone()
            },
            Sort::default(),
            50,
        )
        .await;
        assert_eq!(without.len(), expected.len() - 1);
        assert!(!without.contains(&flagged));
        let deal = h.svc.get_deal(&ctx("admin"), &flagged).await.unwrap();
        assert_eq!(
            deal.next_action.map(|n| n.title),
            Some("Send the offer".into())
        );
        // An older report arriving late (the task was done before) changes nothing.
        let mut stale = new_envelope(
            "activities",
            "c",
            EventPayload::NextActionChanged(ev::NextActionChanged {
                kind: apb::SubjectKind::Deal as i32,
                id: flagged.clone(),
                task: None,
            }),
        );
        stale.occurred_at = Some(ringside_proto::timestamp_from_millis(now_millis() - 60_000));
        h.deliver(&stale).await;
        let deal = h.svc.get_deal(&ctx("admin"), &flagged).await.unwrap();
        assert!(
            deal.next_action.is_some(),
            "a late, older report is ignored"
        );

        // The kanban: per stage, the count and sums per currency of what the filter
        // picks, and the first page of cards; columns page on.
        let filter = Filter {
            owner_id: Some("olga".into()),
            ..base.clone()
        };
        let (_, columns) = h
            .svc
            .kanban(&ctx("admin"), &filter, Sort::default(), 3)
            .await
            .unwrap();
        assert_eq!(columns.len(), p.stages.len());
        for column in &columns {
            let (all, _) = h
                .svc
                .list(
                    &ctx("admin"),
                    &Filter {
                        stage_ids: vec![column.stage.id.clone()],
                        ..filter.clone()
                    },
                    Sort::default(),
                    page(500),
                )
                .await
                .unwrap();
            assert_eq!(
                column.count,
                all.items.len() as i64,
                "{}",
                column.stage.name
            );
            let mut sums: BTreeMap<String, i64> = BTreeMap::new();
            for d in &all.items {
                *sums.entry(d.currency.clone()).or_default() += d.amount_minor;
            }
            assert_eq!(column.sums, sums.into_iter().collect::<Vec<_>>());
            let mut cards: Vec<String> = column.deals.items.iter().map(|d| d.id.clone()).collect();
            let mut after = column.deals.next.clone();
            while let Some(cursor) = after {
                let more = h
                    .svc
                    .column(
                        &ctx("admin"),
                        &filter,
                        Sort::default(),
                        &column.stage.id,
                        Page {
                            size: 3,
                            after: Some(cursor),
                        },
                    )
                    .await
                    .unwrap();
                cards.extend(more.deals.items.iter().map(|d| d.id.clone()));
                after = more.deals.next;
            }
            let want: Vec<String> = all.items.iter().map(|d| d.id.clone()).collect();
            assert_eq!(cards, want, "the column pages through its stage");
        }
    }
}

#[tokio::test]
async fn saved_views_are_private_unless_shared_with_a_team() {
    for t in each_backend().await {
        let h = Harness::new(t).await;
        let member = |actor: &str, teams: &[&str]| Ctx {
            role: Some(ringside_auth::Role::Agent),
            teams: teams.iter().map(|t| (*t).to_owned()).collect(),
            ..ctx(actor)
        };
        let olga = member("olga", &["sales"]);
        let mine = h
            .svc
            .save_view(&olga, None, "My hot deals", "", vec![1, 2])
            .await
            .unwrap();
        let shared = h
            .svc
            .save_view(&olga, None, "Team pipeline", "sales", vec![3])
            .await
            .unwrap();
        // Shared only with a team of her own.
        assert!(matches!(
            h.svc
                .save_view(&olga, None, "Theirs", "support", vec![4])
                .await,
            Err(DealsError::PermissionDenied(_))
        ));
        let names = async |who: &Ctx, team: &str| -> Vec<String> {
            let views = h.svc.views(who, team).await.unwrap();
            views.into_iter().map(|v| v.name).collect()
        };
        assert_eq!(names(&olga, "").await, ["My hot deals", "Team pipeline"]);
        let ivan = member("ivan", &["sales"]);
        assert_eq!(names(&ivan, "").await, ["Team pipeline"]);
        assert_eq!(names(&ivan, "sales").await, ["Team pipeline"]);
        // Naming a team one is not in lists none of its views.
        let petr = member("petr", &["support"]);
        assert!(names(&petr, "sales").await.is_empty());
        assert!(names(&petr, "").await.is_empty());
        // Only the owner changes or deletes a view.
        assert!(matches!(
            h.svc
                .save_view(&ctx("ivan"), Some(&shared.id), "Mine now", "", vec![])
                .await,
            Err(DealsError::PermissionDenied(_))
        ));
        assert!(matches!(
            h.svc.delete_view(&ctx("ivan"), &mine.id).await,
            Err(DealsError::PermissionDenied(_))
        ));
        let renamed = h
            .svc
            .save_view(&olga, Some(&mine.id), "Hottest", "", vec![9])
            .await
            .unwrap();
        assert_eq!(renamed.id, mine.id);
        h.svc.delete_view(&olga, &shared.id).await.unwrap();
        let left: Vec<_> = h
            .svc
            .views(&olga, "sales")
            .await
            .unwrap()
            .into_iter()
            .map(|v| (v.name, v.query))
            .collect();
        assert_eq!(left, [("Hottest".to_owned(), vec![9])]);
    }
}

#[tokio::test]
async fn the_funnel_counts_skips_and_backward_moves_once_and_drills_down_to_its_deals() {
    for t in each_backend().await {
        let h = Harness::new(t).await;
        let p = h.pipeline("Funnel", &["A", "B", "C", "D"]).await;
        let st = |i: usize| Move::To(p.stages[i].id.clone());
        let mut deals = BTreeMap::new();
        // (name, owner, moves)
        let script: Vec<(&str, &str, Vec<Move>)> = vec![
            ("d1", "olga", vec![st(1), st(2), st(3), Move::Win]),
            ("d2", "olga", vec![st(2), Move::Lose("budget".into())]),
            ("d3", "ivan", vec![st(1), st(0), st(1), st(0)]),
            ("d4", "ivan", vec![Move::Lose("no answer".into())]),
            ("d5", "ivan", vec![st(3), Move::Win]),
            ("d6", "olga", vec![]),
            ("d7", "olga", vec![st(1)]),
        ];
        for (name, owner, moves) in script {
            let id = h.deal(&p, name, owner).await;
            for m in moves {
                h.svc.move_deal(&ctx(owner), &id, m).await.unwrap();
            }
            deals.insert(name, id);
        }
        // d7 was opened before the period.
        let now = now_millis();
        h.exec(&format!(
            "UPDATE deals SET created_at = {} WHERE id = '{}'",
            now - 172_800_000,
            deals["d7"]
        ))
        .await;
        // Completed stays in A last 10 s (d1), 20 s (d2), 30 s (both of d3's), 50 s
        // (d4) and 60 s (d5): the lower median is 30 s; olga's 10 s, ivan's 30 s.
        for (name, seconds) in [("d1", 10), ("d2", 20), ("d3", 30), ("d4", 50), ("d5", 60)] {
            h.exec(&format!(
                "UPDATE deal_stage_history SET left_at = entered_at + {} \
                 WHERE deal_id = '{}' AND stage_id = '{}' AND left_at IS NOT NULL",
                seconds * 1000,
                deals[name],
                p.stages[0].id
            ))
            .await;
        }

        // The teams the deals were given to: Olga's d1 and d6 to north, her d2 to
        // none; Ivan's to south.
        for (name, team) in [
            ("d1", "north"),
            ("d6", "north"),
            ("d3", "south"),
            ("d4", "south"),
            ("d5", "south"),
        ] {
            h.exec(&format!(
                "UPDATE deals SET team_id = '{team}' WHERE id = '{}'",
                deals[name]
            ))
            .await;
        }

        let cohort = Cohort {
            pipeline_id: Some(p.id.clone()),
            from: now - 3_600_000,
            to: now + 3_600_000,
        };
        let both = Splits {
            by_owner: true,
            by_team: true,
        };
        let report = h.svc.funnel(&ctx("admin"), &cohort, both).await.unwrap();
        let everyone = (h
            .svc
            .funnel(&ctx("admin"), &cohort, Splits::default())
            .await)
            .unwrap();
        assert_eq!(
            everyone.total, report.total,
            "the same numbers without the owners and teams"
        );
        assert!(everyone.owners.is_empty() && everyone.teams.is_empty());
        let by_team = Splits {
            by_team: true,
            ..Splits::default()
        };
        let teams_only = h.svc.funnel(&ctx("admin"), &cohort, by_team).await.unwrap();
        assert!(teams_only.owners.is_empty());
        assert_eq!(teams_only.teams, report.teams, "asked alone or with owners");
        let numbers = |f: &ringside_deals::reports::Funnel| -> Vec<(i64, i64, i64)> {
            f.stages
                .iter()
                .map(|s| (s.entered, s.moved_on, s.lost_here))
                .collect()
        };
        let total = &report.total;
        assert_eq!((total.deals, total.won, total.lost), (6, 2, 2));
        assert_eq!(total.win_rate(), 0.5);
        assert_eq!(numbers(total), [(6, 4, 1), (4, 3, 0), (3, 2, 1), (2, 2, 0)]);
        assert_eq!(total.stages[0].median_ms, Some(30_000));
        assert_eq!(total.stages[0].completed_stays, 6);
        let owners: BTreeMap<_, _> = report
            .owners
            .iter()
            .map(|f| (f.owner_id.clone().unwrap(), f))
            .collect();
        assert_eq!(
            numbers(owners["olga"]),
            [(3, 2, 0), (2, 2, 0), (2, 1, 1), (1, 1, 0)]
        );
        assert_eq!(owners["olga"].stages[0].median_ms, Some(10_000));
        assert_eq!(owners["ivan"].stages[0].median_ms, Some(30_000));
        assert_eq!(owners["ivan"].stages[0].completed_stays, 4);
        assert_eq!(
            numbers(owners["ivan"]),
            [(3, 2, 1), (2, 1, 0), (1, 1, 0), (1, 1, 0)]
        );
        let teams: BTreeMap<_, _> = (report.teams.iter())
            .map(|f| (f.team_id.clone().unwrap(), f))
            .collect();
        let sizes: Vec<_> = teams.iter().map(|(t, f)| (t.as_str(), f.deals)).collect();
        assert_eq!(sizes, [("", 1), ("north", 2), ("south", 3)]);
        assert!(report.teams.iter().all(|f| f.owner_id.is_none()));
        assert_eq!(numbers(teams["south"]), numbers(owners["ivan"]));
        assert_eq!(teams["north"].stages[0].median_ms, Some(10_000));
        assert_eq!(
            teams["north"].stages[0].completed_stays, 1,
            "d6 is still in A"
        );
        assert_eq!(teams[""].stages[0].median_ms, Some(20_000));
        assert_eq!(teams["south"].stages[0].median_ms, Some(30_000));

        // Every number drills down to exactly that many deals.
        let funnels = std::iter::once(total).chain(report.owners.iter());
        for funnel in funnels.chain(report.teams.iter()) {
            let whose = Whose {
                owner_id: funnel.owner_id.as_deref(),
                team_id: funnel.team_id.as_deref(),
            };
            for s in &funnel.stages {
                for (cell, want) in [
                    (Cell::Entered, s.entered),
                    (Cell::MovedOn, s.moved_on),
                    (Cell::LostHere, s.lost_here),
                ] {
                    let (paged, n) = h
                        .svc
                        .drill_down(
                            &ctx("admin"),
                            &cohort,
                            whose,
                            Some(&s.stage.id),
                            cell,
                            page(100),
                        )
                        .await
                        .unwrap();
                    assert_eq!(
                        (n, paged.items.len() as i64),
                        (want, want),
                        "{whose:?} {} {cell:?}",
                        s.stage.name
                    );
                }
            }
            for (cell, want) in [
                (Cell::Deals, funnel.deals),
                (Cell::Won, funnel.won),
                (Cell::Lost, funnel.lost),
            ] {
                let (_, n) = h
                    .svc
                    .drill_down(&ctx("admin"), &cohort, whose, None, cell, page(100))
                    .await
                    .unwrap();
                assert_eq!(n, want, "{whose:?} {cell:?}");
            }
        }
        let (moved_on_b, _) = h
            .svc
            .drill_down(
                &ctx("admin"),
                &cohort,
                Whose::default(),
                Some(&p.stages[1].id),
                Cell::MovedOn,
                page(100),
            )
            .await
            .unwrap();
        let got: HashSet<_> = moved_on_b.items.iter().map(|d| d.title.as_str()).collect();
        assert_eq!(
            got,
            HashSet::from(["d1", "d2", "d5"]),
            "a skip passes the stage"
        );
        assert!(matches!(
            h.svc
                .drill_down(
                    &ctx("admin"),
                    &cohort,
                    Whose::default(),
                    None,
                    Cell::Entered,
                    page(10)
                )
                .await,
            Err(DealsError::Invalid(_))
        ));
    }
}

#[tokio::test]
async fn the_forecast_weighs_open_deals_by_stage_probability_per_month_and_currency() {
    for t in each_backend().await {
        let h = Harness::new(t).await;
        let p = h.svc.pipeline(None).await.unwrap(); // New 10, Qualified 25, Proposal 50, Negotiation 75
        let rows = [
            (2, 100_000, "EUR", "2026-12-05"),
            (0, 101, "EUR", "2026-12-20"),
            (3, 500_000, "RUB", "2026-12-10"),
            (1, 20_000, "EUR", "2027-01-15"),
            (0, 7_000, "EUR", ""),
            (0, 99_999, "EUR", "2026-12-01"), // won below: not forecast
        ];
        let mut last = String::new();
        for (stage, amount, currency, close) in rows {
            let new = NewDeal {
                title: "f".into(),
                stage_id: Some(p.stages[stage].id.clone()),
                amount_minor: amount,
                currency: currency.into(),
                owner_id: "olga".into(),
                close_day: (!close.is_empty()).then(|| parse_day("d", close).unwrap()),
                ..NewDeal::default()
            };
            last = h.svc.create_deal(&ctx("olga"), new).await.unwrap().0.id;
        }
        h.svc
            .move_deal(&ctx("olga"), &last, Move::Win)
            .await
            .unwrap();
        let forecast = h
            .svc
            .forecast(&ctx("admin"), Some(&p.id), None)
            .await
            .unwrap();
        let got: Vec<_> = forecast
            .iter()
            .map(|r| {
                (
                    r.month.as_str(),
                    r.currency.as_str(),
                    r.deals,
                    r.amount_minor,
                    r.weighted_minor,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("2026-12", "EUR", 2, 100_101, 50_010),
                ("2026-12", "RUB", 1, 500_000, 375_000),
                ("2027-01", "EUR", 1, 20_000, 5_000),
                ("", "EUR", 1, 7_000, 700),
            ]
        );
        assert!(
            h.svc
                .forecast(&ctx("admin"), Some(&p.id), Some("ivan"))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_converted_lead_opens_one_deal_and_merges_relink_its_contacts() {
    use ringside_contacts::domain::{Identity, IdentityKind};
    use ringside_contacts::model::{LeadSource, NewLead};
    for t in each_backend().await {
        let h = Harness::new(t).await;
        let phone =
            Identity::parse(IdentityKind::Phone, "+79991234567", "RU".parse().unwrap()).unwrap();
        let lead = h
            .contacts
            .create_lead(
                &common::contacts_ctx(),
                NewLead {
                    name: "Boris".into(),
                    company_name: "Boris & Co".into(),
                    identities: vec![phone],
                    source: LeadSource {
                        channel: "telegram".into(),
                        campaign: "autumn".into(),
                    },
                    owner_id: "ivan".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let convert = ringside_contacts::ConvertLead {
            lead_id: lead.id.clone(),
            deal: Some(
                ringside_contacts::DealDraft::parse("Boris: pilot", 50_000, "rub", "").unwrap(),
            ),
            ..Default::default()
        };
        let (_, contact, company) = h
            .contacts
            .convert_lead(&common::contacts_ctx(), convert)
            .await
            .unwrap();
        h.pump().await;
        let (found, n) = h
            .svc
            .list(
                &ctx("admin"),
                &Filter {
                    contact_id: Some(contact.id.clone()),
                    ..Filter::default()
                },
                Sort::default(),
                page(10),
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
        let deal = &found.items[0];
        assert_eq!(
            (
                deal.title.as_str(),
                deal.amount_minor,
                deal.currency.as_str()
            ),
            ("Boris: pilot", 50_000, "RUB")
        );
        assert_eq!(deal.owner_id, "ivan");
        assert_eq!(deal.company_id, company.map(|c| c.id));
        assert_eq!(deal.lead_id.as_deref(), Some(lead.id.as_str()));
        assert_eq!(
            (deal.source_channel.as_str(), deal.source_campaign.as_str()),
            ("telegram", "autumn")
        );
        // The same event again (a redelivery, or a second consumer) opens nothing.
        let converted = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT payload FROM outbox WHERE routing_key = 'lead.converted'",
        )
        .fetch_one(h.t.db.pool())
        .await
        .unwrap();
        let mut envelope =
            <ringside_bus::Envelope as prost::Message>::decode(converted.as_slice()).unwrap();
        h.deliver(&envelope).await;
        envelope.event_id = "another-delivery".into();
        h.deliver(&envelope).await;
        assert_eq!(h.count("deals").await, 1);

        // A merge moves the merged contact's role onto the survivor.
        let survivor = h.contact("Boris (main)").await;
        h.contacts
            .merge_contacts(&common::contacts_ctx(), &survivor.id, &contact.id)
            .await
            .unwrap();
        h.pump().await;
        let deal = h.svc.get_deal(&ctx("admin"), &deal.id).await.unwrap();
        assert_eq!(
            deal.contacts
                .iter()
                .map(|c| c.contact_id.as_str())
                .collect::<Vec<_>>(),
            [survivor.id.as_str()]
        );
    }
}

#[tokio::test]
async fn a_stage_added_to_a_pipeline_is_passed_by_the_deals_that_went_further() {
    for t in each_backend().await {
        let h = Harness::new(t).await;
        let p = h.pipeline("Grows", &["A", "B", "C"]).await;
        let st = |i: usize| Move::To(p.stages[i].id.clone());
        // One deal stays in A, one reached B, one reached C and came back to A.
        let stays = h.deal(&p, "stays", "olga").await;
        let reached_b = h.deal(&p, "reached B", "olga").await;
        let back = h.deal(&p, "back", "olga").await;
        h.svc
            .move_deal(&ctx("olga"), &reached_b, st(1))
            .await
            .unwrap();
        for m in [st(2), st(0)] {
            h.svc.move_deal(&ctx("olga"), &back, m).await.unwrap();
        }
        let spec = |name: &str| ringside_deals::model::StageSpec {
            name: name.into(),
            kind: StageKind::Open,
            probability: 30,
            wip_limit: 0,
            wip_refuse: false,
            guidance: String::new(),
        };
        let grown = (h.svc)
            .add_stage(&p.id, spec("Contract"), Some(&p.stages[0].id))
            .await
            .unwrap();
        let names: Vec<_> = grown.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["A", "Contract", "B", "C", "Won", "Lost"]);
        let positions: Vec<_> = grown.stages.iter().map(|s| s.position).collect();
        assert_eq!(positions, [0, 1, 2, 3, 4, 5]);
        let first = (h.svc.add_stage(&p.id, spec("Call"), None).await).unwrap();
        assert_eq!(first.stages[0].name, "Call");

        // The funnel: every deal entered Call and A; those that went past A passed
        // Contract, as a skipped stage is passed.
        let cohort = Cohort {
            pipeline_id: Some(p.id.clone()),
            from: now_millis() - 3_600_000,
            to: now_millis() + 3_600_000,
        };
        let report = (h
            .svc
            .funnel(&ctx("admin"), &cohort, Splits::default())
            .await)
            .unwrap();
        let entered: Vec<_> = (report.total.stages.iter())
            .map(|s| (s.stage.name.as_str(), s.entered))
            .collect();
        assert_eq!(
            entered,
            [("Call", 3), ("A", 3), ("Contract", 2), ("B", 2), ("C", 1)]
        );
        let got = h.svc.get_deal(&ctx("admin"), &stays).await.unwrap();
        assert_eq!(got.stage_id, p.stages[0].id, "deals stay where they are");

        // Not after a closing stage, not in a pipeline that is not there.
        let won = grown
            .stages
            .iter()
            .find(|s| s.kind == StageKind::Won)
            .unwrap();
        let after_won = h.svc.add_stage(&p.id, spec("Late"), Some(&won.id)).await;
        assert!(
            matches!(after_won, Err(DealsError::Invalid(_))),
            "{after_won:?}"
        );
        let nowhere = h.svc.add_stage("no-such-pipeline", spec("X"), None).await;
        assert!(
            matches!(nowhere, Err(DealsError::NotFound { .. })),
            "{nowhere:?}"
        );
        let unnamed = h.svc.add_stage(&p.id, spec(" "), None).await;
        assert!(
            matches!(unnamed, Err(DealsError::Invalid(_))),
            "{unnamed:?}"
        );
        let kept = h.svc.pipeline(Some(&p.id)).await.unwrap();
        assert_eq!(kept.stages.len(), 7, "refusals change nothing");
    }
}
