//! The deals service as a head of sales and the bus see it, in both ways of running:
//! all-in-one (SQLite, local bus) and `serve contacts` + `serve deals` on PostgreSQL
//! and RabbitMQ, deals asking contacts over gRPC whether a linked company exists.

use ringside_auth::Role;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::deals::v1 as pb;
use support::{Suite, eventually};
use tonic::Code;

/// Contacts and deals: one all-in-one suite, or two services.
struct Setup {
    contacts: Suite,
    deals: Option<Suite>,
}

impl Setup {
    fn deals_suite(&self) -> &Suite {
        self.deals.as_ref().unwrap_or(&self.contacts)
    }

    async fn stop(self) {
        if let Some(d) = self.deals {
            d.stop().await;
        }
        self.contacts.stop().await;
    }
}

async fn setups() -> Vec<Setup> {
    let mut setups = vec![Setup {
        contacts: support::all_in_one().await,
        deals: None,
    }];
    if let Some((contacts, deals)) = support::contacts_and_deals().await {
        setups.push(Setup {
            contacts,
            deals: Some(deals),
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

fn stage(name: &str, probability: i32) -> pb::StageSpec {
    pb::StageSpec {
        name: name.into(),
        probability,
        ..Default::default()
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Code {
    result.expect_err("refused").code()
}

#[tokio::test]
async fn a_head_of_sales_runs_a_pipeline_over_grpc() {
    for setup in setups().await {
        let name = setup.deals_suite().name;
        let manager = Role::Manager;
        let mut deals = setup
            .deals_suite()
            .deals_member("olga", manager, &["sales"])
            .await;
        let mut admin = setup.deals_suite().deals_as("admin", Role::Admin).await;
        let mut contacts = setup.contacts.client().await;

        let sales = deals
            .get_pipeline(pb::GetPipelineRequest::default())
            .await
            .expect("the default pipeline")
            .into_inner();
        assert!(sales.is_default, "{name}");
        let mut specs = vec![stage("Call", 20), stage("Demo", 40), stage("Offer", 70)];
        specs[1].wip_limit = 1;
        specs[1].wip_rule = pb::WipRule::Refuse as i32;
        let refused = deals
            .create_pipeline(pb::CreatePipelineRequest {
                name: "B2B".into(),
                stages: specs.clone(),
            })
            .await;
        assert_eq!(code(refused), Code::PermissionDenied, "{name}: admin's");
        let b2b = admin
            .create_pipeline(pb::CreatePipelineRequest {
                name: "B2B".into(),
                stages: specs,
            })
            .await
            .expect("pipeline")
            .into_inner();
        assert_eq!(b2b.stages.len(), 5, "{name}: won and lost added");
        let listed = deals
            .list_pipelines(pb::ListPipelinesRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.pipelines.len(), 2, "{name}");

        let company = contacts
            .create_company(cpb::CreateCompanyRequest {
                name: "Acme".into(),
                owner_id: "olga".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let deal = |title: &str, amount: i64, currency: &str| pb::CreateDealRequest {
            title: title.into(),
            pipeline_id: b2b.id.clone(),
            amount_minor: amount,
            currency: currency.into(),
            company_id: company.id.clone(),
            expected_close: "2026-12-15".into(),
            ..Default::default()
        };
        let mut ids = Vec::new();
        for (title, amount, currency) in [
            ("a", 100_000, "EUR"),
            ("b", 50_000, "EUR"),
            ("c", 7_000, "RUB"),
        ] {
            let created = deals
                .create_deal(deal(title, amount, currency))
                .await
                .unwrap()
                .into_inner();
            let d = created.deal.unwrap();
            assert_eq!(
                (d.owner_id.as_str(), d.stage_id.as_str()),
                ("olga", b2b.stages[0].id.as_str())
            );
            ids.push(d.id);
        }

        // Bad input: each refused with its code, nothing written.
        let before = setup.deals_suite().count("deals").await;
        let mut ghost = deal("x", 1, "EUR");
        ghost.company_id = "no-such-company".into();
        assert_eq!(
            code(deals.create_deal(ghost).await),
            Code::InvalidArgument,
            "{name}"
        );
        assert_eq!(
            code(deals.create_deal(deal("x", -1, "EUR")).await),
            Code::InvalidArgument
        );
        assert_eq!(
            code(deals.create_deal(deal("x", 1, "EUR1")).await),
            Code::InvalidArgument
        );
        let elsewhere = pb::MoveDealRequest {
            id: ids[0].clone(),
            stage_id: sales.stages[1].id.clone(),
        };
        assert_eq!(
            code(deals.move_deal(elsewhere).await),
            Code::InvalidArgument
        );
        let mut anonymous = pb::deals_client::DealsClient::new(setup.deals_suite().channel().await);
        assert_eq!(
            code(anonymous.list_deals(pb::ListDealsRequest::default()).await),
            Code::Unauthenticated
        );
        assert_eq!(setup.deals_suite().count("deals").await, before, "{name}");

        // Moves: the WIP rule refuses a second deal in Demo; a won deal must reopen.
        let to = |id: &str, s: usize| pb::MoveDealRequest {
            id: id.into(),
            stage_id: b2b.stages[s].id.clone(),
        };
        deals.move_deal(to(&ids[0], 1)).await.unwrap();
        assert_eq!(
            code(deals.move_deal(to(&ids[1], 1)).await),
            Code::FailedPrecondition
        );
        deals.move_deal(to(&ids[1], 2)).await.unwrap();
        deals
            .win_deal(pb::WinDealRequest { id: ids[1].clone() })
            .await
            .unwrap();
        assert_eq!(
            code(deals.move_deal(to(&ids[1], 0)).await),
            Code::FailedPrecondition
        );
        let lost = pb::LoseDealRequest {
            id: ids[2].clone(),
            reason: String::new(),
        };
        assert_eq!(
            code(deals.lose_deal(lost).await),
            Code::InvalidArgument,
            "a reason is required"
        );
        deals
            .lose_deal(pb::LoseDealRequest {
                id: ids[2].clone(),
                reason: "went silent".into(),
            })
            .await
            .unwrap();
        let history = deals
            .stage_history(pb::StageHistoryRequest {
                deal_id: ids[1].clone(),
            })
            .await
            .unwrap()
            .into_inner();
        let names: Vec<_> = history
            .stays
            .iter()
            .map(|s| s.stage_name.as_str())
            .collect();
        assert_eq!(names, ["Call", "Offer", "Won"], "{name}");

        // The kanban: counts and sums per stage.
        let filter = pb::DealFilter {
            pipeline_id: b2b.id.clone(),
            ..Default::default()
        };
        let board = deals
            .kanban(pb::KanbanRequest {
                filter: Some(filter.clone()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let summary: Vec<_> = board
            .columns
            .iter()
            .map(|c| {
                (
                    c.stage.as_ref().unwrap().name.as_str(),
                    c.count,
                    c.sums
                        .iter()
                        .map(|m| (m.currency.as_str(), m.amount_minor))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("Call", 0, vec![]),
                ("Demo", 1, vec![("EUR", 100_000)]),
                ("Offer", 0, vec![]),
                ("Won", 1, vec![("EUR", 50_000)]),
                ("Lost", 1, vec![("RUB", 7_000)]),
            ],
            "{name}"
        );

        // A saved view comes back as it was saved.
        let open_only = pb::DealFilter {
            status: pb::DealStatus::Open as i32,
            owner_id: "me".into(),
            ..filter.clone()
        };
        let view = deals
            .save_view(pb::SaveViewRequest {
                name: "My open B2B".into(),
                team: "sales".into(),
                layout: pb::Layout::List as i32,
                filter: Some(open_only.clone()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let agent = Role::Agent;
        let mut ivan = setup
            .deals_suite()
            .deals_member("ivan", agent, &["sales"])
            .await;
        let shared = ivan
            .list_views(pb::ListViewsRequest {
                team: "sales".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(shared.views.len(), 1, "{name}");
        assert_eq!(shared.views[0].filter, Some(open_only.clone()));
        assert_eq!(shared.views[0].id, view.id);
        let listed = deals
            .list_deals(pb::ListDealsRequest {
                filter: Some(open_only),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.total, 1, "{name}");

        // The funnel of today's deals, and a drill-down into one of its numbers.
        let now = ringside_storage::now_millis();
        let period = (
            Some(ringside_proto::timestamp_from_millis(now - 3_600_000)),
            Some(ringside_proto::timestamp_from_millis(now + 3_600_000)),
        );
        let report = deals
            .funnel(pb::FunnelRequest {
                pipeline_id: b2b.id.clone(),
                from: period.0,
                to: period.1,
                by_owner: true,
                by_team: true,
            })
            .await
            .unwrap()
            .into_inner();
        let teams: i64 = report.teams.iter().map(|t| t.deals).sum();
        let total = report.total.unwrap();
        assert_eq!(teams, total.deals, "{name}: every deal in one team's row");
        assert_eq!(
            (total.deals, total.won, total.lost, total.win_rate),
            (3, 1, 1, 0.5),
            "{name}"
        );
        let stages: Vec<_> = total
            .stages
            .iter()
            .map(|s| (s.entered, s.moved_on, s.lost_here))
            .collect();
        assert_eq!(
            stages,
            [(3, 2, 1), (2, 1, 0), (1, 1, 0)],
            "{name}: Offer skipped Demo for b"
        );
        let drilled = deals
            .drill_down(pb::DrillDownRequest {
                pipeline_id: b2b.id.clone(),
                from: period.0,
                to: period.1,
                stage_id: b2b.stages[1].id.clone(),
                cell: pb::Cell::Entered as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(drilled.total, 2, "{name}");
        let forecast = deals
            .forecast(pb::ForecastRequest {
                pipeline_id: b2b.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(forecast.rows.len(), 1);
        assert_eq!(
            (
                forecast.rows[0].month.as_str(),
                forecast.rows[0].weighted_minor
            ),
            ("2026-12", 40_000)
        );
        setup.stop().await;
    }
}

#[tokio::test]
async fn converting_a_lead_with_a_deal_opens_it_through_the_bus() {
    for setup in setups().await {
        let name = setup.deals_suite().name;
        let mut watch = setup.deals_suite().watch(&["deal.*"]).await;
        let mut contacts = setup.contacts.client().await;
        let lead = contacts
            .create_lead(cpb::CreateLeadRequest {
                name: "Vera".into(),
                identities: vec![cpb::Identity {
                    kind: cpb::IdentityKind::Email as i32,
                    value: "vera@example.org".into(),
                }],
                owner_id: "ivan".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let refused = contacts
            .convert_lead(cpb::ConvertLeadRequest {
                id: lead.id.clone(),
                deal: Some(cpb::DealDraft {
                    title: "Vera: pilot".into(),
                    amount_minor: 10,
                    currency: "XYZ".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await;
        assert_eq!(
            code(refused),
            Code::InvalidArgument,
            "{name}: checked before converting"
        );
        let converted = contacts
            .convert_lead(cpb::ConvertLeadRequest {
                id: lead.id.clone(),
                deal: Some(cpb::DealDraft {
                    title: "Vera: pilot".into(),
                    amount_minor: 300_000,
                    currency: "rub".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let contact = converted.contact.unwrap();
        let mut deals = setup.deals_suite().deals("ivan").await;
        let filter = pb::DealFilter {
            contact_id: contact.id.clone(),
            ..Default::default()
        };
        let found = eventually("the deal from the conversion", || {
            let mut deals = deals.clone();
            let filter = filter.clone();
            async move {
                let page = deals
                    .list_deals(pb::ListDealsRequest {
                        filter: Some(filter),
                        ..Default::default()
                    })
                    .await
                    .ok()?
                    .into_inner();
                page.deals.into_iter().next()
            }
        })
        .await;
        assert_eq!(
            (
                found.title.as_str(),
                found.owner_id.as_str(),
                found.currency.as_str()
            ),
            ("Vera: pilot", "ivan", "RUB"),
            "{name}"
        );
        assert_eq!(found.lead_id, lead.id);
        let delivery = tokio::time::timeout(std::time::Duration::from_secs(10), watch.next())
            .await
            .expect("deal.created on the bus")
            .expect("a delivery");
        let envelope = delivery.message.decode().expect("envelope");
        delivery.acker.ack().await.expect("ack");
        assert_eq!(envelope.r#type, "deal.created", "{name}");
        let _ = deals
            .get_deal(pb::GetDealRequest { id: found.id })
            .await
            .unwrap();
        setup.stop().await;
    }
}
