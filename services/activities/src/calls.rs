//! Calls on the timeline: one entry per call id, updated as `call.ringing`,
//! `call.answered`, `call.ended` and `call.missed` arrive (in any order — a later fact
//! never undoes an earlier one), and the call-back task a missed inbound call makes.
//! The end of a call, once filed, is published as `call.filed` with the entry's id.

use ringside_bus::EventPayload;
use ringside_proto::activities::v1 as pb;
use ringside_proto::events::v1 as ev;
use ringside_proto::{millis_from_timestamp, timestamp_from_millis};
use ringside_storage::{Tx, new_id, now_millis};

use crate::consume::Event;
use crate::domain::human_duration;
use crate::error::Result;
use crate::model::{Detail, Entry, EntryKind, Links, SubjectKind, Task, TaskStatus, TaskType};
use crate::peers::{Client, ExtensionAgents};
use crate::service::ActivitiesService;
use crate::store;

/// The rule name on tasks made by missed calls.
pub const MISSED_CALL_RULE: &str = "missed_call";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Ringing,
    Answered,
    Ended,
    Missed,
}

/// What one call event says, whichever event it is.
pub(crate) struct CallFact<'a> {
    stage: Stage,
    parties: Option<&'a ev::CallParties>,
    extensions: Vec<String>,
    answered_at: Option<i64>,
    duration_ms: i64,
    outcome: pb::CallOutcome,
}

impl<'a> CallFact<'a> {
    pub fn of(payload: &'a ringside_bus::EventPayload) -> Option<Self> {
        use ringside_bus::EventPayload as P;
        let at = |t: &Option<prost_types::Timestamp>| t.as_ref().map(millis_from_timestamp);
        let fact = |stage, parties: &'a Option<ev::CallParties>, extensions| CallFact {
            stage,
            parties: parties.as_ref(),
            extensions,
            answered_at: None,
            duration_ms: 0,
            outcome: pb::CallOutcome::Unspecified,
        };
        Some(match payload {
            P::CallRinging(e) => fact(Stage::Ringing, &e.call, vec![e.extension.clone()]),
            P::CallAnswered(e) => CallFact {
                answered_at: at(&e.answered_at),
                outcome: pb::CallOutcome::Answered,
                ..fact(Stage::Answered, &e.call, vec![e.extension.clone()])
            },
            P::CallEnded(e) => CallFact {
                answered_at: at(&e.answered_at),
                duration_ms: e.duration_ms,
                outcome: pb::CallOutcome::Answered,
                ..fact(Stage::Ended, &e.call, vec![e.extension.clone()])
            },
            P::CallMissed(e) => CallFact {
                outcome: missed_outcome(e.outcome),
                ..fact(Stage::Missed, &e.call, e.extensions.clone())
            },
            _ => return None,
        })
    }

    fn direction(&self) -> pb::Direction {
        let direction = self.parties.map_or(0, |p| p.direction);
        match ev::CallDirection::try_from(direction) {
            Ok(ev::CallDirection::Inbound) => pb::Direction::Inbound,
            Ok(ev::CallDirection::Outbound) => pb::Direction::Outbound,
            Ok(ev::CallDirection::Internal) => pb::Direction::Internal,
            _ => pb::Direction::Unspecified,
        }
    }

    fn call_id(&self) -> &str {
        self.parties.map_or("", |p| p.call_id.as_str())
    }

    /// The client's number: the caller of an inbound call, the callee of an outbound one.
    fn client_number(&self) -> Option<&str> {
        let p = self.parties?;
        match self.direction() {
            pb::Direction::Inbound => Some(&p.caller),
            pb::Direction::Outbound => Some(&p.callee),
            _ => None,
        }
    }

    /// Nobody took an inbound call: it should be called back.
    fn wants_call_back(&self) -> bool {
        self.stage == Stage::Missed
            && self.direction() == pb::Direction::Inbound
            && matches!(
                self.outcome,
                pb::CallOutcome::Missed | pb::CallOutcome::Busy | pb::CallOutcome::Rejected
            )
    }
}

fn missed_outcome(outcome: i32) -> pb::CallOutcome {
    match ev::CallOutcome::try_from(outcome) {
        Ok(ev::CallOutcome::Busy) => pb::CallOutcome::Busy,
        Ok(ev::CallOutcome::Rejected) => pb::CallOutcome::Rejected,
        Ok(ev::CallOutcome::Failed) => pb::CallOutcome::Failed,
        _ => pb::CallOutcome::Missed,
    }
}

/// The client on the call, asked of contacts when the call is first seen and when it
/// is missed (the call-back goes to the client's owner). An inbound stranger becomes a
/// lead; an outbound call to a stranger links to nobody.
pub(crate) async fn client_of(
    service: &ActivitiesService,
    event: &Event<'_>,
    fact: &CallFact<'_>,
) -> Result<Option<Client>> {
    let Some(number) = fact.client_number().filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if fact.stage != Stage::Missed {
        let mut conn = service.db.pool().acquire().await?;
        let key = format!("call:{}", fact.call_id());
        if let Some(entry) = store::entry_by_key(&mut conn, &key).await?
            && (entry.links.contact_id.is_some() || entry.links.lead_id.is_some())
        {
            return Ok(None); // already linked
        }
    }
    let create = fact.direction() == pb::Direction::Inbound;
    service
        .peers
        .client_by_phone(&event.ctx.correlation_id, number, create)
        .await
}

/// The users at the call's extensions (asked before the transaction).
pub(crate) async fn agents_of(service: &ActivitiesService, fact: &CallFact<'_>) -> ExtensionAgents {
    crate::peers::agents_at(&service.peers, &service.config.agents, &fact.extensions).await
}

/// Writes the fact onto the call's entry, and opens a call-back task for a missed
/// inbound call.
pub(crate) async fn apply(
    service: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    fact: &CallFact<'_>,
    client: Option<Client>,
    agents: &ExtensionAgents,
) -> Result<()> {
    if fact.call_id().is_empty() {
        return Err(ringside_identity::Invalid::new("call.call_id", "missing").into());
    }
    let key = format!("call:{}", fact.call_id());
    let entry = match store::entry_by_key_for_update(tx, &key).await? {
        Some(entry) => update(tx, entry, fact, client.as_ref(), agents).await?,
        None => {
            let new = merge(
                new_call_entry(fact, event, &key),
                fact,
                client.as_ref(),
                agents,
            );
            if store::insert_entry(tx, &new).await? {
                new
            } else {
                // Another replica inserted it first: merge into theirs.
                let theirs = store::entry_by_key_for_update(tx, &key).await?;
                update(tx, theirs.unwrap_or(new), fact, client.as_ref(), agents).await?
            }
        }
    };
    if matches!(fact.stage, Stage::Ended | Stage::Missed) {
        let filed = ev::CallFiled {
            call_id: fact.call_id().to_owned(),
            entry_id: entry.id.clone(),
        };
        service
            .emit(tx, &event.ctx, EventPayload::CallFiled(filed))
            .await?;
    }
    missed_call_task(service, tx, event, fact, client, &entry, agents).await
}

/// `entry` with `fact` applied, written back.
async fn update(
    tx: &mut Tx,
    entry: Entry,
    fact: &CallFact<'_>,
    client: Option<&Client>,
    agents: &ExtensionAgents,
) -> Result<Entry> {
    let entry = merge(entry, fact, client, agents);
    store::update_entry(tx, &entry).await?;
    Ok(entry)
}

fn new_call_entry(fact: &CallFact<'_>, event: &Event<'_>, key: &str) -> Entry {
    let now = now_millis();
    let parties = fact.parties.cloned().unwrap_or_default();
    let rang_at = parties
        .rang_at
        .as_ref()
        .map_or(event.at, millis_from_timestamp);
    let detail = pb::CallDetail {
        call_id: parties.call_id,
        direction: fact.direction() as i32,
        caller: parties.caller,
        callee: parties.callee,
        rang_at: Some(timestamp_from_millis(rang_at)),
        ..Default::default()
    };
    Entry {
        id: new_id(),
        kind: EntryKind::Call,
        occurred_at: rang_at,
        links: Links::default(),
        conversation_id: None,
        summary: String::new(),
        body: String::new(),
        author_id: String::new(),
        detail: Some(Detail::Call(detail)),
        external_key: Some(key.to_owned()),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

/// `entry` with `fact` applied. Facts only ever add: a late `call.ringing` after
/// `call.ended` adds its extension and nothing else.
fn merge(
    mut entry: Entry,
    fact: &CallFact<'_>,
    client: Option<&Client>,
    agents: &ExtensionAgents,
) -> Entry {
    let mut d = match entry.detail.take() {
        Some(Detail::Call(d)) => d,
        _ => pb::CallDetail::default(),
    };
    for ext in fact.extensions.iter().filter(|e| !e.is_empty()) {
        if !d.extensions.contains(ext) {
            d.extensions.push(ext.clone());
        }
    }
    if matches!(fact.stage, Stage::Answered | Stage::Ended) {
        if let Some(ext) = fact.extensions.first() {
            d.answered_extension = ext.clone();
            d.agent_id = agents.get(ext).cloned().unwrap_or_default();
        }
        if let Some(at) = fact.answered_at {
            d.answered_at = Some(timestamp_from_millis(at));
        }
    }
    if fact.stage == Stage::Ended {
        d.duration_ms = fact.duration_ms;
        let answered = d
            .answered_at
            .as_ref()
            .map_or(entry.occurred_at, millis_from_timestamp);
        d.ended_at = Some(timestamp_from_millis(answered + fact.duration_ms));
    }
    if fact.stage == Stage::Missed && d.outcome != pb::CallOutcome::Answered as i32 {
        d.ended_at
            .get_or_insert_with(|| timestamp_from_millis(now_millis()));
    }
    if d.outcome == pb::CallOutcome::Unspecified as i32 {
        d.outcome = fact.outcome as i32;
    }
    if let Some(c) = client {
        link_client(&mut entry.links, c);
    }
    entry.summary = call_summary(&d);
    entry.detail = Some(Detail::Call(d));
    entry.updated_at = now_millis();
    entry
}

fn link_client(links: &mut Links, c: &Client) {
    match c.kind {
        SubjectKind::Contact => {
            links.contact_id.get_or_insert_with(|| c.id.clone());
        }
        SubjectKind::Lead => {
            links.lead_id.get_or_insert_with(|| c.id.clone());
        }
        SubjectKind::Deal => {}
    }
    if links.company_id.is_none() {
        links.company_id = c.company_id.clone();
    }
}

/// "Inbound call, answered at 101, 2m05s".
fn call_summary(d: &pb::CallDetail) -> String {
    let direction = match pb::Direction::try_from(d.direction) {
        Ok(pb::Direction::Outbound) => "Outbound call",
        Ok(pb::Direction::Internal) => "Internal call",
        _ => "Inbound call",
    };
    let rang = d.extensions.join(", ");
    let state = match pb::CallOutcome::try_from(d.outcome) {
        Ok(pb::CallOutcome::Answered) if d.ended_at.is_some() => format!(
            "answered at {}, {}",
            d.answered_extension,
            human_duration(d.duration_ms)
        ),
        Ok(pb::CallOutcome::Answered) => format!("answered at {}", d.answered_extension),
        Ok(pb::CallOutcome::Missed) => format!("missed (rang {rang})"),
        Ok(pb::CallOutcome::Busy) => format!("busy (rang {rang})"),
        Ok(pb::CallOutcome::Rejected) => format!("rejected (rang {rang})"),
        Ok(pb::CallOutcome::Failed) => "failed".to_owned(),
        _ if rang.is_empty() => "ringing".to_owned(),
        _ => format!("ringing at {rang}"),
    };
    format!("{direction}, {state}")
}

/// A missed inbound call becomes a call-back task for the client's owner (else the
/// agent whose extension rang), due within the configured time — unless the client
/// already has an open call-back task.
async fn missed_call_task(
    service: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    fact: &CallFact<'_>,
    client: Option<Client>,
    entry: &Entry,
    agents: &ExtensionAgents,
) -> Result<()> {
    if !fact.wants_call_back() {
        return Ok(());
    }
    let subject = entry.links.subjects().into_iter().next();
    if let Some((kind, id)) = &subject
        && store::has_open_task(tx, *kind, id, TaskType::CallBack).await?
    {
        return Ok(());
    }
    let rang = fact.extensions.iter().find(|e| agents.contains_key(*e));
    let assignee = match client.as_ref().map(|c| c.owner_id.as_str()) {
        Some(owner) if !owner.is_empty() => owner.to_owned(),
        _ => rang
            .and_then(|e| agents.get(e))
            .cloned()
            .unwrap_or_default(),
    };
    let caller = fact.client_number().unwrap_or_default();
    let dedupe_key = match &subject {
        Some((kind, id)) => format!("call_back:{}:{id}", kind.as_str()),
        None => format!("call_back:phone:{caller}"),
    };
    let due_at = event.at + service.config.callback_within.as_millis() as i64;
    let now = now_millis();
    let task = Task {
        id: new_id(),
        title: format!("Call back {caller}"),
        task_type: TaskType::CallBack,
        assignee_id: assignee,
        due_at,
        remind_at: due_at,
        reminded_at: None,
        status: TaskStatus::Open,
        links: Links {
            company_id: None,
            ..entry.links.clone()
        },
        created_by: String::new(),
        created_by_rule: MISSED_CALL_RULE.to_owned(),
        extension: rang
            .or(fact.extensions.first())
            .cloned()
            .unwrap_or_default(),
        dedupe_key: Some(dedupe_key),
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    if service.insert_task(tx, &event.ctx, &task).await? {
        metrics::counter!("ringside_activities_call_back_tasks_total").increment(1);
    }
    Ok(())
}
