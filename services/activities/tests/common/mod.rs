//! A contacts service and an activities service on one test database, with the
//! contacts events delivered to the activities consumer the way the bus would.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use ringside_activities::model::{Ctx, Links, Page};
use ringside_activities::peers::{AgentMap, Peers};
use ringside_activities::{ActivitiesConfig, ActivitiesService, Consumer};
use ringside_bus::consumer::Handler;
use ringside_bus::{Envelope, EventPayload, new_envelope};
use ringside_contacts::domain::{Identity, IdentityKind};
use ringside_contacts::model::{Contact, Ctx as ContactsCtx, NewContact};
use ringside_contacts::{ContactsGrpc, ContactsService};
use ringside_kit::PeerChannel;
use ringside_proto::events::v1 as ev;
use ringside_storage::testing::TestDb;
use ringside_storage::{AssertSqlSafe, now_millis};
use tokio::sync::Notify;

pub struct Harness {
    pub t: TestDb,
    pub contacts: ContactsService,
    pub svc: ActivitiesService,
    pub consumer: Consumer,
    fed: tokio::sync::Mutex<i64>,
}

pub fn agents() -> AgentMap {
    AgentMap::parse("olga=101;ivan=102").expect("agents")
}

/// Contacts as activities reaches it in the all-in-one process: its gRPC server, guard
/// and all, in this process.
pub fn contacts_channel(contacts: &ContactsService) -> PeerChannel {
    ContactsGrpc::peer_channel(contacts.clone(), ringside_activities::SOURCE)
}

impl Harness {
    pub fn new(t: TestDb) -> Self {
        let contacts = ContactsService::new(
            t.db.clone(),
            "RU".parse().expect("region"),
            Arc::new(Notify::new()),
        );
        let svc = Self::activities(&t, &contacts);
        Harness {
            consumer: Consumer::new(svc.clone()),
            t,
            contacts,
            svc,
            fed: tokio::sync::Mutex::new(0),
        }
    }

    /// Another activities replica on the same database.
    pub fn activities(t: &TestDb, contacts: &ContactsService) -> ActivitiesService {
        ActivitiesService::new(
            t.db.clone(),
            Peers::new(contacts_channel(contacts)),
            ActivitiesConfig {
                callback_within: Duration::from_secs(15 * 60),
                agents: agents(),
            },
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

    /// Events activities wrote, of `routing_key`, decoded.
    pub async fn events(&self, routing_key: &str) -> Vec<Envelope> {
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT payload FROM outbox WHERE source = 'activities' AND routing_key = $1 \
             ORDER BY id",
        )
        .bind(routing_key)
        .fetch_all(self.t.db.pool())
        .await
        .expect("outbox");
        rows.iter()
            .map(|p| Envelope::decode(p.as_slice()).expect("envelope"))
            .collect()
    }

    pub async fn contact(&self, name: &str, phone: &str, owner: &str) -> Contact {
        let identity = Identity::parse(IdentityKind::Phone, phone, "RU".parse().expect("region"))
            .expect("phone");
        let contact = self
            .contacts
            .create_contact(
                &ContactsCtx {
                    actor: "admin".into(),
                    correlation_id: "seed".into(),
                    ..Default::default()
                },
                NewContact {
                    name: name.into(),
                    owner_id: owner.into(),
                    identities: vec![identity],
                    ..Default::default()
                },
            )
            .await
            .expect("contact");
        self.pump().await;
        contact
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

pub fn on_contact(id: &str) -> Links {
    Links {
        contact_id: Some(id.to_owned()),
        ..Links::default()
    }
}

pub fn parties(call_id: &str, caller: &str, direction: ev::CallDirection) -> ev::CallParties {
    ev::CallParties {
        call_id: call_id.into(),
        direction: direction as i32,
        caller: caller.into(),
        callee: "+74950000000".into(),
        rang_at: Some(ringside_proto::timestamp_from_millis(now_millis() - 30_000)),
    }
}

pub fn event(payload: EventPayload) -> Envelope {
    new_envelope("ingest", "call", payload)
}

pub fn ringing(call_id: &str, caller: &str, ext: &str) -> Envelope {
    event(EventPayload::CallRinging(ev::CallRinging {
        call: Some(parties(call_id, caller, ev::CallDirection::Inbound)),
        extension: ext.into(),
    }))
}

pub fn missed(call_id: &str, caller: &str, exts: &[&str]) -> Envelope {
    event(EventPayload::CallMissed(ev::CallMissed {
        call: Some(parties(call_id, caller, ev::CallDirection::Inbound)),
        extensions: exts.iter().map(|e| (*e).to_owned()).collect(),
        outcome: ev::CallOutcome::Missed as i32,
    }))
}

pub fn answered(call_id: &str, caller: &str, ext: &str) -> Envelope {
    event(EventPayload::CallAnswered(ev::CallAnswered {
        call: Some(parties(call_id, caller, ev::CallDirection::Inbound)),
        extension: ext.into(),
        answered_at: Some(ringside_proto::timestamp_from_millis(now_millis() - 20_000)),
    }))
}

pub fn ended(call_id: &str, caller: &str, ext: &str, duration_ms: i64) -> Envelope {
    event(EventPayload::CallEnded(ev::CallEnded {
        call: Some(parties(call_id, caller, ev::CallDirection::Inbound)),
        extension: ext.into(),
        answered_at: Some(ringside_proto::timestamp_from_millis(now_millis() - 20_000)),
        duration_ms,
        expired: false,
    }))
}
