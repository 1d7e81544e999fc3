//! A contacts service and a deals service on one test database, with the contacts
//! events delivered to the deals consumer the way the bus would.

#![allow(dead_code)]

use std::sync::Arc;

use prost::Message as _;
use ringside_bus::Envelope;
use ringside_bus::consumer::Handler;
use ringside_contacts::model::{Contact, Ctx as ContactsCtx, NewContact};
use ringside_contacts::{ContactsGrpc, ContactsService};
use ringside_deals::model::{Ctx, NewDeal, Pipeline, StageKind, StageSpec};
use ringside_deals::{Consumer, DealsService};
use ringside_identity::paging::Page;
use ringside_kit::PeerChannel;
use ringside_storage::AssertSqlSafe;
use ringside_storage::testing::TestDb;
use tokio::sync::Notify;

/// Deals asks the real contacts service through its gRPC server (guard and all), in
/// this process, as in the all-in-one mode.
pub fn contacts_channel(contacts: &ContactsService) -> PeerChannel {
    ContactsGrpc::peer_channel(contacts.clone(), ringside_deals::SOURCE)
}

pub struct Harness {
    pub t: TestDb,
    pub contacts: ContactsService,
    pub svc: DealsService,
    pub consumer: Consumer,
    fed: tokio::sync::Mutex<i64>,
}

impl Harness {
    pub async fn new(t: TestDb) -> Self {
        let contacts = ContactsService::new(
            t.db.clone(),
            "RU".parse().expect("region"),
            Arc::new(Notify::new()),
        );
        let svc = Self::replica(&t, &contacts);
        svc.ensure_default_pipeline()
            .await
            .expect("default pipeline");
        Harness {
            consumer: Consumer::new(svc.clone()),
            t,
            contacts,
            svc,
            fed: tokio::sync::Mutex::new(0),
        }
    }

    /// Another deals replica on the same database.
    pub fn replica(t: &TestDb, contacts: &ContactsService) -> DealsService {
        DealsService::new(
            t.db.clone(),
            contacts_channel(contacts),
            Arc::new(Notify::new()),
        )
    }

    pub fn backend(&self) -> ringside_storage::Backend {
        self.t.db.backend()
    }

    /// Delivers every contacts event written since the last call to the consumer.
    pub async fn pump(&self) {
        let mut fed = self.fed.lock().await;
        *fed = ringside_bus::outbox::feed(&self.t.db, "contacts", *fed, &self.consumer)
            .await
            .expect("handled");
    }

    pub async fn deliver(&self, envelope: &Envelope) {
        self.consumer.handle(envelope).await.expect("handled");
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.count_where(table, "TRUE").await
    }

    pub async fn count_where(&self, table: &str, clause: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE {clause}"
        )))
        .fetch_one(self.t.db.pool())
        .await
        .expect("count")
    }

    /// Runs `sql` on the test database (to age history for the reports).
    pub async fn exec(&self, sql: &str) {
        sqlx::query(AssertSqlSafe(sql.to_owned()))
            .execute(self.t.db.pool())
            .await
            .expect("exec");
    }

    /// Rows in deals, history and the deals outbox: what "writes nothing" checks.
    pub async fn footprint(&self) -> (i64, i64, i64, i64) {
        (
            self.count("deals").await,
            self.count("deal_stage_history").await,
            self.count_where("outbox", "source = 'deals'").await,
            self.count("deal_contacts").await,
        )
    }

    /// Events deals wrote, of `routing_key`, decoded.
    pub async fn events(&self, routing_key: &str) -> Vec<Envelope> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT payload FROM outbox WHERE source = 'deals' AND routing_key = $1 ORDER BY id",
        )
        .bind(routing_key)
        .fetch_all(self.t.db.pool())
        .await
        .expect("outbox");
        rows.iter()
            .map(|p| Envelope::decode(p.as_slice()).expect("envelope"))
            .collect()
    }

    pub async fn contact(&self, name: &str) -> Contact {
        self.contacts
            .create_contact(
                &contacts_ctx(),
                NewContact {
                    name: name.into(),
                    owner_id: "olga".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("contact")
    }

    /// A pipeline of open stages named `names` (probability 10, 20, ...).
    pub async fn pipeline(&self, name: &str, names: &[&str]) -> Pipeline {
        let specs = names
            .iter()
            .enumerate()
            .map(|(i, n)| StageSpec {
                name: (*n).into(),
                kind: StageKind::Open,
                probability: 10 * (i as i64 + 1),
                wip_limit: 0,
                wip_refuse: false,
                guidance: format!("how to win at {n}"),
            })
            .collect();
        self.svc
            .create_pipeline(name, specs)
            .await
            .expect("pipeline")
    }

    /// Opens a deal in `pipeline`'s first stage.
    pub async fn deal(&self, pipeline: &Pipeline, title: &str, owner: &str) -> String {
        let new = NewDeal {
            title: title.into(),
            pipeline_id: Some(pipeline.id.clone()),
            amount_minor: 10_000,
            currency: "EUR".into(),
            owner_id: owner.into(),
            ..NewDeal::default()
        };
        let (deal, _) = self.svc.create_deal(&ctx(owner), new).await.expect("deal");
        deal.id
    }
}

pub fn contacts_ctx() -> ContactsCtx {
    ContactsCtx {
        actor: "admin".into(),
        correlation_id: "seed".into(),
        ..Default::default()
    }
}

pub fn ctx(actor: &str) -> Ctx {
    Ctx {
        actor: actor.into(),
        correlation_id: "corr".into(),
        ..Default::default()
    }
}

pub fn page(size: i64) -> Page {
    Page { size, after: None }
}
