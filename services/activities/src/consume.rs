//! What activities does with the events of other services. Every event is applied in
//! one transaction that also claims its id in the inbox, so a redelivery changes
//! nothing. Questions to contacts (who is calling) are asked before the transaction.

use async_trait::async_trait;
use ringside_bus::consumer::{HandleError, Handler};
use ringside_bus::{Envelope, EventPayload, QueueSpec};
use ringside_kit::consume::Apply;
use ringside_proto::activities::v1 as pb;
use ringside_proto::events::v1 as ev;
use ringside_proto::millis_from_timestamp;
use ringside_storage::{Db, Tx, new_id, now_millis};

use crate::calls::{self, CallFact};
use crate::domain::summary_line;
use crate::error::{ActivitiesError, Result};
use crate::model::{Ctx, Detail, Entry, EntryKind, Links, SubjectKind};
use crate::peers::Client;
use crate::service::ActivitiesService;
use crate::store;

/// The queue activities consumes (`<prefix>activities`) and what it is bound to.
pub fn queue_spec(prefix: &str) -> QueueSpec {
    QueueSpec::new(
        &format!("{prefix}{}", crate::QUEUE),
        &[
            "call.ringing",
            "call.answered",
            "call.ended",
            "call.missed",
            "message.received",
            "message.sent",
            "message.failed",
            "form.submitted",
            "contact.*",
            "lead.*",
            "deal.created",
            "deal.stage_changed",
            "deal.updated",
        ],
    )
    // Its own `call.filed` is none of its business.
    .retiring(&["call.*"])
}

/// The bus handler of the activities service.
pub struct Consumer {
    service: ActivitiesService,
}

impl Consumer {
    pub fn new(service: ActivitiesService) -> Self {
        Consumer { service }
    }
}

#[async_trait]
impl Handler for Consumer {
    async fn handle(&self, envelope: &Envelope) -> Result<(), HandleError> {
        ringside_kit::consume::once(self, envelope).await
    }
}

#[async_trait]
impl Apply for Consumer {
    /// For a call: who the client is (contacts) and who sits at its extensions
    /// (staff), asked before the transaction so no lock is held meanwhile.
    type Asked = (Option<Client>, crate::peers::ExtensionAgents);
    type Error = ActivitiesError;

    fn queue(&self) -> &'static str {
        crate::QUEUE
    }

    fn db(&self) -> &Db {
        &self.service.db
    }

    fn is_poison(error: &ActivitiesError) -> bool {
        matches!(error, ActivitiesError::Invalid(_))
    }

    async fn ask(&self, envelope: &Envelope, payload: &EventPayload) -> Result<Self::Asked> {
        let event = Event::of(envelope);
        Ok(match CallFact::of(payload) {
            Some(fact) => (
                calls::client_of(&self.service, &event, &fact).await?,
                calls::agents_of(&self.service, &fact).await,
            ),
            None => (None, Default::default()),
        })
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        envelope: &Envelope,
        payload: &EventPayload,
        (client, agents): Self::Asked,
    ) -> Result<()> {
        self.apply_in(tx, &Event::of(envelope), payload, client, &agents)
            .await
    }

    async fn commit(&self, tx: Tx) -> Result<()> {
        self.service.commit(tx).await
    }
}

/// The parts of an envelope every change needs.
pub(crate) struct Event<'a> {
    pub ctx: Ctx,
    pub id: &'a str,
    pub at: i64,
    /// When the producer said it happened (0 when it did not say): what the
    /// subjects projection orders events by.
    pub as_of: i64,
}

impl<'a> Event<'a> {
    fn of(envelope: &'a Envelope) -> Self {
        Event {
            ctx: Ctx::new(&envelope.source, &envelope.correlation_id),
            id: &envelope.event_id,
            at: envelope
                .occurred_at
                .as_ref()
                .map_or_else(now_millis, millis_from_timestamp),
            as_of: envelope
                .occurred_at
                .as_ref()
                .map_or(0, millis_from_timestamp),
        }
    }
}

impl Consumer {
    async fn apply_in(
        &self,
        tx: &mut Tx,
        event: &Event<'_>,
        payload: &EventPayload,
        client: Option<Client>,
        agents: &crate::peers::ExtensionAgents,
    ) -> Result<()> {
        use EventPayload as P;
        let s = &self.service;
        match payload {
            P::CallRinging(_) | P::CallAnswered(_) | P::CallEnded(_) | P::CallMissed(_) => {
                let fact = CallFact::of(payload).expect("a call event");
                calls::apply(s, tx, event, &fact, client, agents).await
            }
            P::MessageReceived(m) => {
                message(s, tx, event, m.message.as_ref(), pb::Direction::Inbound).await
            }
            P::MessageSent(m) => {
                message(s, tx, event, m.message.as_ref(), pb::Direction::Outbound).await
            }
            P::MessageFailed(f) => message_failed(tx, event, f).await,
            P::FormSubmitted(f) => crate::messages::form(s, tx, event, f).await,
            P::ContactCreated(c) => contact_seen(s, tx, event, c.contact.as_ref()).await,
            P::ContactUpdated(c) => contact_seen(s, tx, event, c.contact.as_ref()).await,
            P::ContactDeleted(c) => {
                let gone = (SubjectKind::Contact, c.contact_id.as_str());
                store::upsert_subject(tx, gone.0, gone.1, None, false, event.as_of)
                    .await
                    .map(drop)
            }
            P::ContactMerged(m) => merged(s, tx, event, m).await,
            P::LeadCreated(l) => lead_seen(s, tx, event, l.lead.as_ref()).await,
            P::LeadStatusChanged(l) => {
                let active = l.to != ringside_proto::contacts::v1::LeadStatus::Disqualified as i32;
                if !active {
                    // Disqualified: what they wrote so far waits for nobody (what they
                    // write next does).
                    store::stop_waiting(tx, &l.lead_id).await?;
                }
                let seen = Seen {
                    kind: SubjectKind::Lead,
                    id: &l.lead_id,
                    owner: &l.owner_id,
                    active,
                };
                owner_seen(s, tx, event, seen).await
            }
            P::LeadConverted(l) => converted(s, tx, event, l).await,
            P::DealStageChanged(d) => stage_changed(tx, event, d).await,
            // A new deal, or one given to someone else (or to the pool): who owns it.
            P::DealCreated(ev::DealCreated { deal }) | P::DealUpdated(ev::DealUpdated { deal }) => {
                match deal {
                    Some(deal) => {
                        let owner = Some(deal.owner_id.as_str());
                        store::upsert_subject(
                            tx,
                            SubjectKind::Deal,
                            &deal.id,
                            owner,
                            true,
                            event.as_of,
                        )
                        .await
                        .map(drop)
                    }
                    None => Ok(()),
                }
            }
            // Events this service publishes itself, or has no use for.
            _ => Ok(()),
        }
    }
}

/// A system entry made by event `event`.
pub(crate) fn system_entry(
    event: &Event<'_>,
    name: &str,
    summary: &str,
    links: Links,
    attributes: &[(&str, &str)],
) -> Entry {
    let now = now_millis();
    Entry {
        id: new_id(),
        kind: EntryKind::System,
        occurred_at: event.at,
        links,
        conversation_id: None,
        summary: summary_line(summary),
        body: String::new(),
        author_id: String::new(),
        detail: Some(Detail::System(pb::SystemDetail {
            event: name.to_owned(),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })),
        external_key: Some(format!("event:{}", event.id)),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

pub(crate) fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

async fn contact_seen(
    s: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    contact: Option<&ringside_proto::contacts::v1::Contact>,
) -> Result<()> {
    let Some(c) = contact else { return Ok(()) };
    let seen = Seen {
        kind: SubjectKind::Contact,
        id: &c.id,
        owner: &c.owner_id,
        active: c.deleted_at.is_none(),
    };
    owner_seen(s, tx, event, seen).await
}

async fn lead_seen(
    s: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    lead: Option<&ringside_proto::contacts::v1::Lead>,
) -> Result<()> {
    let Some(l) = lead else { return Ok(()) };
    let seen = Seen {
        kind: SubjectKind::Lead,
        id: &l.id,
        owner: &l.owner_id,
        active: true,
    };
    owner_seen(s, tx, event, seen).await
}

/// A client as an event shows them: whose they are, and whether still active.
struct Seen<'a> {
    kind: SubjectKind,
    id: &'a str,
    owner: &'a str,
    active: bool,
}

/// Conversations announced when a client changes hands, at most.
const HANDED_OVER: i64 = 50;

/// The subjects projection takes the client's owner; when they were someone
/// else's (given away, or taken), their latest conversations are announced
/// (`conversation.updated` naming the owner before), so both inboxes catch up.
async fn owner_seen(
    s: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    seen: Seen<'_>,
) -> Result<()> {
    let before = store::subject_owner(tx, seen.kind, seen.id).await?;
    let owner = Some(seen.owner);
    let taken =
        store::upsert_subject(tx, seen.kind, seen.id, owner, seen.active, event.as_of).await?;
    // An older event than the one the projection holds changes nothing.
    let Some(before) = before.filter(|b| taken && b != seen.owner) else {
        return Ok(());
    };
    for c in store::conversations_of(tx, seen.kind, seen.id, HANDED_OVER).await? {
        let updated = ev::ConversationUpdated {
            conversation: Some(crate::convert::conversation_to_proto(&c)),
            agent_id: String::new(),
            previous_owner_id: before.clone(),
        };
        s.emit(tx, &event.ctx, EventPayload::ConversationUpdated(updated))
            .await?;
    }
    Ok(())
}

/// `contact.merged`: the merged contact's entries, tasks and conversations move to
/// the survivor, whose next action is recomputed.
async fn merged(
    s: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    m: &ev::ContactMerged,
) -> Result<()> {
    store::relink(tx, "contact_id", &m.merged_id, &m.survivor_id).await?;
    store::upsert_subject(
        tx,
        SubjectKind::Contact,
        &m.merged_id,
        None,
        false,
        event.as_of,
    )
    .await?;
    store::set_next_action(tx, SubjectKind::Contact, &m.merged_id, None).await?;
    let links = Links {
        contact_id: Some(m.survivor_id.clone()),
        ..Links::default()
    };
    let entry = system_entry(
        event,
        "contact.merged",
        "Contacts merged",
        links.clone(),
        &[("merged_id", &m.merged_id)],
    );
    store::insert_entry(tx, &entry).await?;
    s.refresh_next_actions(tx, &event.ctx, &links).await
}

/// `lead.converted`: the lead's history shows on the new contact, with a system entry.
async fn converted(
    s: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    l: &ev::LeadConverted,
) -> Result<()> {
    let company = non_empty(&l.company_id);
    store::adopt_lead(tx, &l.lead_id, &l.contact_id, company.as_deref()).await?;
    store::upsert_subject(tx, SubjectKind::Lead, &l.lead_id, None, false, event.as_of).await?;
    let contact = (SubjectKind::Contact, l.contact_id.as_str());
    store::upsert_subject(
        tx,
        contact.0,
        contact.1,
        Some(&l.owner_id),
        true,
        event.as_of,
    )
    .await?;
    let links = Links {
        contact_id: non_empty(&l.contact_id),
        lead_id: non_empty(&l.lead_id),
        company_id: company,
        deal_id: None,
    };
    let entry = system_entry(
        event,
        "lead.converted",
        "Lead converted to a contact",
        links.clone(),
        &[("lead_id", &l.lead_id), ("contact_id", &l.contact_id)],
    );
    store::insert_entry(tx, &entry).await?;
    s.refresh_next_actions(tx, &event.ctx, &links).await
}

async fn stage_changed(tx: &mut Tx, event: &Event<'_>, d: &ev::DealStageChanged) -> Result<()> {
    let deal = (SubjectKind::Deal, d.deal_id.as_str());
    store::upsert_subject(tx, deal.0, deal.1, Some(&d.owner_id), true, event.as_of).await?;
    let links = Links {
        contact_id: d.contact_ids.first().cloned(),
        lead_id: None,
        company_id: non_empty(&d.company_id),
        deal_id: non_empty(&d.deal_id),
    };
    let summary = format!(
        "Deal “{}” moved from {} to {}",
        d.title, d.from_stage, d.to_stage
    );
    let entry = system_entry(
        event,
        "deal.stage_changed",
        &summary,
        links,
        &[
            ("title", &d.title),
            ("from_stage", &d.from_stage),
            ("to_stage", &d.to_stage),
            ("changed_by", &d.changed_by),
        ],
    );
    store::insert_entry(tx, &entry).await?;
    Ok(())
}

/// `message.failed`: the agent's message that did not go out, and why, on the
/// client's timeline (a blocked bot is how the agent learns to call instead).
async fn message_failed(tx: &mut Tx, event: &Event<'_>, f: &ev::MessageFailed) -> Result<()> {
    let Some(cm) = &f.message else { return Ok(()) };
    let detail = cm.message.clone().unwrap_or_default();
    let channel = crate::convert::channel_name(detail.channel);
    let summary = format!("{channel} message not delivered: {}", f.reason);
    let blocked = if f.blocked { "true" } else { "false" };
    let mut entry = system_entry(
        event,
        "message.failed",
        &summary,
        crate::messages::links_of(cm),
        &[
            ("channel", channel),
            ("reason", &f.reason),
            ("blocked", blocked),
        ],
    );
    entry.body = detail.text;
    entry.author_id = detail.agent_id;
    store::insert_entry(tx, &entry).await?;
    Ok(())
}

/// `message.received` / `message.sent`: an entry in its conversation; an edit
/// replaces the text and keeps the old one as a revision.
async fn message(
    service: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    message: Option<&ev::ChannelMessage>,
    direction: pb::Direction,
) -> Result<()> {
    let Some(cm) = message else { return Ok(()) };
    let mut detail = cm.message.clone().unwrap_or_default();
    detail.direction = direction as i32;
    let channel = crate::convert::channel_name(detail.channel);
    let key = match detail.external_id.as_str() {
        "" => format!("event:{}", event.id),
        id => format!("msg:{channel}:{id}"),
    };
    if cm.edit
        && let Some(existing) = store::entry_by_key_for_update(tx, &key).await?
    {
        return crate::messages::edit(tx, event, existing, detail).await;
    }
    crate::messages::record(service, tx, event, cm, detail, channel, key).await
}
