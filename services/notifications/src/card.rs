//! Building a caller-ID card: who is calling (contacts' `Resolve`, which makes a
//! stranger exactly one lead), then in parallel what happened last (activities: the
//! last five interactions, the last call, open tasks) and the client's open deals
//! (deals). The card is pushed as soon as the caller is known — who is calling is what
//! the agent needs before anything else — or at the deadline, whichever comes first;
//! the rest follows as an update.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ringside_auth::{Role, TokenKey};
use ringside_proto::activities::v1 as apb;
use ringside_proto::activities::v1::activities_client::ActivitiesClient;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::contacts::v1::contacts_client::ContactsClient;
use ringside_proto::deals::v1 as dpb;
use ringside_proto::deals::v1::deals_client::DealsClient;
use ringside_proto::notifications::v1 as pb;
use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::error::{NotificationsError, Result};

/// Interactions a card lists.
pub const INTERACTIONS: i32 = 5;
/// Open deals a card lists.
pub const DEALS: i32 = 5;

/// The client part of a card.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Client {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub company: String,
    pub status: String,
    pub tags: Vec<String>,
    pub owner_id: String,
    pub new_lead: bool,
}

/// What happened last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub interactions: Vec<pb::CardInteraction>,
    pub last_call: Option<pb::CardLastCall>,
    pub tasks: Vec<pb::CardTask>,
    pub deals: Vec<pb::CardDeal>,
}

/// Where a card's parts come from: the client and what happened last, on top of the
/// raw [`Lookups`].
#[async_trait]
pub trait Sources: Lookups {
    /// The client behind `phone`; a lead created since `rang_at` (Unix ms) — by this
    /// call, whichever service asked first — is a new lead.
    async fn client(
        &self,
        correlation_id: &str,
        phone: &str,
        rang_at: i64,
    ) -> Result<Option<Client>>;
    /// `call_id` is the ringing call, left out of "the last call".
    async fn history(&self, client: &Client, call_id: &str) -> Result<History>;
}

/// The card of a ringing call, filled in as its parts arrive, pushed through `show`
/// once the caller is known (or at the deadline, if that comes first) and again when
/// complete.
pub async fn build(
    sources: Arc<dyn Sources>,
    base: pb::Card,
    rang_at: i64,
    deadline: Duration,
    show: impl Fn(&pb::Card) + Send + Sync + 'static,
) {
    let card = Arc::new(Mutex::new(pb::Card {
        pending: vec!["client".into(), "history".into()],
        ..base
    }));
    let caller_known = Arc::new(tokio::sync::Notify::new());
    let fill = fill(sources, card.clone(), rang_at, caller_known.clone());
    tokio::pin!(fill);
    let complete = tokio::select! {
        _ = &mut fill => true,
        _ = caller_known.notified() => false,
        _ = tokio::time::sleep(deadline) => false,
    };
    show(&card.lock().await.clone());
    if !complete {
        fill.await;
        show(&card.lock().await.clone());
    }
}

async fn fill(
    sources: Arc<dyn Sources>,
    card: Arc<Mutex<pb::Card>>,
    rang_at: i64,
    caller_known: Arc<tokio::sync::Notify>,
) {
    let (call_id, caller) = {
        let c = card.lock().await;
        (c.call_id.clone(), c.caller.clone())
    };
    let client = match sources.client(&call_id, &caller, rang_at).await {
        Ok(Some(client)) => client,
        Ok(None) | Err(_) => {
            card.lock().await.pending.clear();
            return;
        }
    };
    apply_client(&mut *card.lock().await, &client);
    caller_known.notify_one();
    let history = sources.history(&client, &call_id).await.unwrap_or_default();
    let mut c = card.lock().await;
    c.interactions = history.interactions;
    c.last_call = history.last_call;
    c.tasks = history.tasks;
    c.deals = history.deals;
    c.pending.clear();
}

fn apply_client(card: &mut pb::Card, client: &Client) {
    card.client_kind = client.kind.clone();
    card.client_id = client.id.clone();
    card.name = client.name.clone();
    card.company = client.company.clone();
    card.status = client.status.clone();
    card.tags = client.tags.clone();
    card.owner_id = client.owner_id.clone();
    card.new_lead = client.new_lead;
    card.pending.retain(|p| p != "client");
}

/// Contacts, activities and deals over gRPC, each call with a short-lived token signed
/// by the shared key (acting as the service, or as the agent who typed a note).
pub struct GrpcSources {
    contacts: ContactsClient<Channel>,
    activities: ActivitiesClient<Channel>,
    deals: DealsClient<Channel>,
    key: TokenKey,
}

/// Where [`GrpcSources`] asks.
pub struct SourceUrls<'a> {
    pub contacts: &'a str,
    pub activities: &'a str,
    pub deals: &'a str,
}

impl GrpcSources {
    pub fn new(urls: SourceUrls<'_>, key: TokenKey) -> Result<Self, tonic::transport::Error> {
        Ok(GrpcSources {
            contacts: ContactsClient::new(ringside_auth::lazy_channel(urls.contacts)?),
            activities: ActivitiesClient::new(ringside_auth::lazy_channel(urls.activities)?),
            deals: DealsClient::new(ringside_auth::lazy_channel(urls.deals)?),
            key,
        })
    }

    fn request<T>(&self, message: T, user: &str, correlation_id: &str) -> tonic::Request<T> {
        let role = match user {
            crate::SOURCE => Role::Service,
            _ => Role::Agent,
        };
        self.key.request(message, user, role, correlation_id)
    }

    fn service<T>(&self, message: T) -> tonic::Request<T> {
        self.request(message, crate::SOURCE, "")
    }
}

/// The timeline subject of a card's client.
fn subject_of(client: &Client) -> apb::Subject {
    let subject = match client.kind.as_str() {
        "contact" => apb::subject::Subject::ContactId(client.id.clone()),
        _ => apb::subject::Subject::LeadId(client.id.clone()),
    };
    apb::Subject {
        subject: Some(subject),
    }
}

fn unavailable(status: tonic::Status) -> NotificationsError {
    NotificationsError::Unavailable(status.message().to_owned())
}

/// Leads created up to this long before the call rang count as made by it (clocks of
/// the PBX and of this host differ a little).
const NEW_LEAD_SLACK_MS: i64 = 5_000;

/// The client part of a card, but for the company's name (it comes with the reply).
fn client_of_party(party: cpb::Party, created: bool, rang_at: i64) -> Option<Client> {
    Some(match party.party? {
        cpb::party::Party::Contact(c) => Client {
            kind: "contact".into(),
            id: c.id,
            name: c.name,
            status: "client".into(),
            tags: c.tags,
            owner_id: c.owner_id,
            ..Default::default()
        },
        cpb::party::Party::Lead(l) => Client {
            kind: "lead".into(),
            id: l.id,
            name: l.name,
            status: lead_status(l.status),
            owner_id: l.owner_id,
            new_lead: created
                || l.created_at.as_ref().is_some_and(|t| {
                    ringside_proto::millis_from_timestamp(t) >= rang_at - NEW_LEAD_SLACK_MS
                }),
            ..Default::default()
        },
    })
}

fn lead_status(status: i32) -> String {
    match cpb::LeadStatus::try_from(status) {
        Ok(cpb::LeadStatus::Working) => "working",
        Ok(cpb::LeadStatus::Qualified) => "qualified",
        Ok(cpb::LeadStatus::Disqualified) => "disqualified",
        _ => "new",
    }
    .to_owned()
}

/// A deal as a card lists it.
pub fn card_deal(d: &dpb::Deal) -> pb::CardDeal {
    pb::CardDeal {
        id: d.id.clone(),
        title: d.title.clone(),
        stage: d.stage_name.clone(),
        amount_minor: d.amount_minor,
        currency: d.currency.clone(),
    }
}

fn interaction(e: &apb::Entry) -> pb::CardInteraction {
    let kind = match apb::EntryKind::try_from(e.kind) {
        Ok(apb::EntryKind::Call) => "call",
        Ok(apb::EntryKind::Message) => "message",
        Ok(apb::EntryKind::Note) => "note",
        Ok(apb::EntryKind::Form) => "form",
        _ => "system",
    };
    pb::CardInteraction {
        at: e.occurred_at,
        kind: kind.into(),
        summary: e.summary.clone(),
    }
}

fn last_call(entries: &[apb::Entry], ringing: &str) -> Option<pb::CardLastCall> {
    entries.iter().find_map(|e| match &e.detail {
        Some(apb::entry::Detail::Call(call)) if call.call_id != ringing => {
            let outcome = match call.agent_outcome.as_str() {
                "" => apb::CallOutcome::try_from(call.outcome)
                    .map(|o| {
                        o.as_str_name()
                            .trim_start_matches("CALL_OUTCOME_")
                            .to_lowercase()
                    })
                    .unwrap_or_default(),
                agent => agent.to_owned(),
            };
            Some(pb::CardLastCall {
                at: e.occurred_at,
                agent_id: call.agent_id.clone(),
                outcome,
                note: e.text.clone(),
            })
        }
        _ => None,
    })
}

#[async_trait]
impl Lookups for GrpcSources {
    async fn resolve(
        &self,
        correlation_id: &str,
        phone: &str,
    ) -> Result<Option<cpb::ResolveResponse>> {
        let req = self.request(
            cpb::ResolveRequest {
                identity: Some(cpb::Identity {
                    kind: cpb::IdentityKind::Phone as i32,
                    value: phone.to_owned(),
                }),
                name: String::new(),
                source: Some(cpb::LeadSource {
                    channel: "phone".into(),
                    campaign: String::new(),
                }),
                ..Default::default()
            },
            crate::SOURCE,
            correlation_id,
        );
        match self.contacts.clone().resolve(req).await {
            Ok(r) => Ok(Some(r.into_inner())),
            Err(s) if s.code() == tonic::Code::InvalidArgument => Ok(None),
            Err(s) => Err(unavailable(s)),
        }
    }

    async fn timeline(
        &self,
        client: &Client,
        kinds: Vec<i32>,
        size: i32,
    ) -> Result<Vec<apb::Entry>> {
        let subject = subject_of(client);
        let req = self.service(apb::TimelineRequest {
            subject: Some(subject),
            kinds,
            page_size: size,
            ..Default::default()
        });
        let resp = self
            .activities
            .clone()
            .timeline(req)
            .await
            .map_err(unavailable)?;
        Ok(resp.into_inner().entries)
    }

    async fn open_tasks(&self, client: &Client) -> Result<Vec<apb::Task>> {
        let subject = subject_of(client);
        let req = self.service(apb::ListTasksRequest {
            subject: Some(subject),
            page_size: 10,
            ..Default::default()
        });
        let resp = self
            .activities
            .clone()
            .list_tasks(req)
            .await
            .map_err(unavailable)?;
        Ok(resp.into_inner().tasks)
    }

    async fn add_call_note(
        &self,
        agent: &str,
        call_id: &str,
        text: &str,
        outcome: &str,
    ) -> Result<String> {
        let req = self.request(
            apb::AddCallNoteRequest {
                call_id: call_id.into(),
                text: text.into(),
                outcome: outcome.into(),
            },
            agent,
            call_id,
        );
        match self.activities.clone().add_call_note(req).await {
            Ok(entry) => Ok(entry.into_inner().id),
            Err(s) => Err(NotificationsError::from_status(s)),
        }
    }

    async fn open_deals(&self, client: &Client) -> Result<Vec<pb::CardDeal>> {
        if client.kind != "contact" {
            return Ok(Vec::new()); // deals belong to contacts; a lead has none yet
        }
        let req = self.service(dpb::ListDealsRequest {
            filter: Some(dpb::DealFilter {
                contact_id: client.id.clone(),
                status: dpb::DealStatus::Open as i32,
                ..Default::default()
            }),
            page_size: DEALS,
            ..Default::default()
        });
        let resp = self
            .deals
            .clone()
            .list_deals(req)
            .await
            .map_err(unavailable)?;
        Ok(resp.into_inner().deals.iter().map(card_deal).collect())
    }

    async fn party(&self, kind: &str, id: &str) -> Result<Option<cpb::Party>> {
        use cpb::party::Party;
        let found = match kind {
            "contact" => {
                let req = self.service(cpb::GetContactRequest { id: id.into() });
                self.contacts
                    .clone()
                    .get_contact(req)
                    .await
                    .map(|r| Party::Contact(r.into_inner()))
            }
            _ => {
                let req = self.service(cpb::GetLeadRequest { id: id.into() });
                self.contacts
                    .clone()
                    .get_lead(req)
                    .await
                    .map(|r| Party::Lead(r.into_inner()))
            }
        };
        match found {
            Ok(party) => Ok(Some(cpb::Party { party: Some(party) })),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(unavailable(s)),
        }
    }

    async fn entry(&self, id: &str) -> Result<Option<apb::Entry>> {
        let req = self.service(apb::GetEntryRequest { id: id.into() });
        match self.activities.clone().get_entry(req).await {
            Ok(entry) => Ok(Some(entry.into_inner())),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(unavailable(s)),
        }
    }

    async fn call_entry(&self, call_id: &str) -> Result<Option<String>> {
        let req = self.service(apb::GetCallEntryRequest {
            call_id: call_id.into(),
        });
        match self.activities.clone().get_call_entry(req).await {
            Ok(entry) => Ok(Some(entry.into_inner().id)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(unavailable(s)),
        }
    }
}

/// The questions a card asks of contacts and activities, answered as their messages;
/// over gRPC ([`GrpcSources`]) or in the same process ([`LocalSources`]).
#[async_trait]
pub trait Lookups: Send + Sync + 'static {
    /// The party behind `phone`, its company's name and whether this call created it
    /// (a stranger becomes a lead); `None` for what is not a phone number.
    async fn resolve(
        &self,
        correlation_id: &str,
        phone: &str,
    ) -> Result<Option<cpb::ResolveResponse>>;
    async fn timeline(
        &self,
        client: &Client,
        kinds: Vec<i32>,
        size: i32,
    ) -> Result<Vec<apb::Entry>>;
    async fn open_tasks(&self, client: &Client) -> Result<Vec<apb::Task>>;
    /// The client's open deals (none for a lead).
    async fn open_deals(&self, client: &Client) -> Result<Vec<pb::CardDeal>>;
    async fn add_call_note(
        &self,
        agent: &str,
        call_id: &str,
        text: &str,
        outcome: &str,
    ) -> Result<String>;
    async fn call_entry(&self, call_id: &str) -> Result<Option<String>>;
    /// A contact (`kind` "contact") or a lead by id; `None` when there is none.
    async fn party(&self, kind: &str, id: &str) -> Result<Option<cpb::Party>>;
    /// A timeline entry by id; `None` when there is none.
    async fn entry(&self, id: &str) -> Result<Option<apb::Entry>>;
}

#[async_trait]
impl<L: Lookups> Sources for L {
    async fn client(
        &self,
        correlation_id: &str,
        phone: &str,
        rang_at: i64,
    ) -> Result<Option<Client>> {
        let Some(resolved) = self.resolve(correlation_id, phone).await? else {
            return Ok(None);
        };
        let client = resolved.party.and_then(|party| {
            let mut client = client_of_party(party, resolved.created, rang_at)?;
            client.company = resolved.company_name;
            Some(client)
        });
        Ok(client)
    }

    async fn history(&self, client: &Client, call_id: &str) -> Result<History> {
        let call_kind = vec![apb::EntryKind::Call as i32];
        let (recent, calls, tasks, deals) = tokio::join!(
            self.timeline(client, Vec::new(), INTERACTIONS + 1),
            self.timeline(client, call_kind, 2),
            self.open_tasks(client),
            self.open_deals(client),
        );
        // The card is whole without deals (a suite may run without the deals service).
        let deals = deals.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "card: open deals unavailable");
            Vec::new()
        });
        let now = ringside_storage::now_millis();
        let interactions = recent?
            .iter()
            .filter(
                |e| !matches!(&e.detail, Some(apb::entry::Detail::Call(c)) if c.call_id == call_id),
            )
            .take(INTERACTIONS as usize)
            .map(interaction)
            .collect();
        let tasks = tasks?
            .into_iter()
            .map(|t| pb::CardTask {
                overdue: t
                    .due_at
                    .as_ref()
                    .is_some_and(|d| ringside_proto::millis_from_timestamp(d) < now),
                id: t.id,
                title: t.title,
                due_at: t.due_at,
            })
            .collect();
        Ok(History {
            interactions,
            last_call: last_call(&calls?, call_id),
            tasks,
            deals,
        })
    }
}
