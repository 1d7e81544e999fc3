//! Building a caller-ID card: who is calling (contacts' `Resolve`, which makes a
//! stranger exactly one lead), then in parallel what happened last (activities: the
//! last five interactions, the last call, open tasks) and the client's open deals
//! (deals). The card is pushed as soon as the caller is known — who is calling is what
//! the agent needs before anything else — or at the deadline, whichever comes first;
//! the rest follows as an update.

use std::sync::Arc;
use std::time::Duration;

use ringside_proto::activities::v1 as apb;
use ringside_proto::contacts::v1 as cpb;
use ringside_proto::deals::v1 as dpb;
use ringside_proto::notifications::v1 as pb;
use tokio::sync::Mutex;

use crate::error::Result;
use crate::peers::Peers;

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

/// The card of a ringing call, filled in as its parts arrive, pushed through `show`
/// once the caller is known (or at the deadline, if that comes first) and again when
/// complete.
pub async fn build(
    peers: Arc<Peers>,
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
    let fill = fill(peers, card.clone(), rang_at, caller_known.clone());
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
    peers: Arc<Peers>,
    card: Arc<Mutex<pb::Card>>,
    rang_at: i64,
    caller_known: Arc<tokio::sync::Notify>,
) {
    let (call_id, caller) = {
        let c = card.lock().await;
        (c.call_id.clone(), c.caller.clone())
    };
    let client = match client(&peers, &call_id, &caller, rang_at).await {
        Ok(Some(client)) => client,
        Ok(None) | Err(_) => {
            card.lock().await.pending.clear();
            return;
        }
    };
    apply_client(&mut *card.lock().await, &client);
    caller_known.notify_one();
    let history = history(&peers, &client, &call_id).await.unwrap_or_default();
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

fn last_call(e: &apb::Entry) -> Option<pb::CardLastCall> {
    match &e.detail {
        Some(apb::entry::Detail::Call(call)) => {
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
    }
}

/// The client behind `phone`; a lead created since `rang_at` (Unix ms) — by this
/// call, whichever service asked first — is a new lead.
async fn client(
    peers: &Peers,
    correlation_id: &str,
    phone: &str,
    rang_at: i64,
) -> Result<Option<Client>> {
    let Some(resolved) = peers.resolve(correlation_id, phone).await? else {
        return Ok(None);
    };
    let client = resolved.party.and_then(|party| {
        let mut client = client_of_party(party, resolved.created, rang_at)?;
        client.company = resolved.company_name;
        Some(client)
    });
    Ok(client)
}

/// What happened last (one question to activities, one to deals, at once);
/// `call_id` is the ringing call, left out.
async fn history(peers: &Peers, client: &Client, call_id: &str) -> Result<History> {
    let (history, deals) = tokio::join!(
        peers.client_history(client, INTERACTIONS, call_id),
        peers.open_deals(client),
    );
    let history = history?;
    // The card is whole without deals (a suite may run without the deals service).
    let deals = deals.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "card: open deals unavailable");
        Vec::new()
    });
    let now = ringside_storage::now_millis();
    let interactions = history.recent.iter().map(interaction).collect();
    let tasks = history
        .open_tasks
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
        last_call: history.last_call.as_ref().and_then(last_call),
        tasks,
        deals,
    })
}
