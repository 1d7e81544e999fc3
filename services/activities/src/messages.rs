//! Messages on the timeline: each lands in its conversation — the one its sender
//! names (an answer), else found by the thread key (a Telegram chat, an email thread
//! root), else by the messages it answers (email In-Reply-To and References), else a
//! new conversation starts with it. A web form's submission starts a conversation
//! of its own, which waits for an answer as a message does.

use ringside_proto::activities::v1 as pb;
use ringside_proto::events::v1 as ev;
use ringside_proto::millis_from_timestamp;
use ringside_storage::{Tx, new_id, now_millis};

use ringside_bus::EventPayload;

use crate::consume::{Event, non_empty};
use crate::domain::summary_line;
use crate::error::Result;
use crate::model::{Conversation, Detail, Entry, EntryKind, Links, Revision};
use crate::service::ActivitiesService;
use crate::store;

/// Most ids of what a message answers looked up to find its conversation.
const MAX_REFERENCES: usize = 50;

pub(crate) fn links_of(cm: &ev::ChannelMessage) -> Links {
    let some = |s: &String| (!s.is_empty()).then(|| s.clone());
    Links {
        contact_id: some(&cm.contact_id),
        lead_id: some(&cm.lead_id),
        company_id: some(&cm.company_id),
        deal_id: None,
    }
}

/// A new message entry in its conversation.
pub(crate) async fn record(
    service: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    cm: &ev::ChannelMessage,
    detail: pb::MessageDetail,
    channel: &str,
    key: String,
) -> Result<()> {
    let links = links_of(cm);
    let direction = detail.direction();
    // An auto-reply or a bounce is on the timeline, but neither asks nor answers.
    let automatic = detail.automatic;
    let at = cm.sent_at.as_ref().map_or(event.at, millis_from_timestamp);
    let conversation = conversation_for(tx, cm, &detail, channel, &links, at).await?;
    let now = now_millis();
    let summary = match detail.subject.trim() {
        "" => summary_line(&detail.text),
        subject => summary_line(subject),
    };
    let entry = Entry {
        id: new_id(),
        kind: EntryKind::Message,
        occurred_at: at,
        links: links.clone(),
        conversation_id: Some(conversation.clone()),
        summary,
        body: detail.text.clone(),
        author_id: detail.agent_id.clone(),
        detail: Some(Detail::Message(detail)),
        external_key: Some(key),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    if store::insert_entry(tx, &entry).await? {
        let touch = store::Touch {
            at,
            links: &links,
            inbound: direction == pb::Direction::Inbound,
            automatic,
            preview: &summary_line(&entry.body),
        };
        touched(service, tx, event, &conversation, &touch, &entry.author_id).await?;
    }
    Ok(())
}

/// `conversation` has a new entry (`touch`): its wait and preview follow, and
/// `conversation.updated` says so (`agent_id`: who wrote it, when one of us did).
async fn touched(
    service: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    conversation: &str,
    touch: &store::Touch<'_>,
    agent_id: &str,
) -> Result<()> {
    store::touch_conversation(tx, conversation, touch).await?;
    if let Some(c) = store::get_conversation(tx, conversation).await? {
        let updated = ev::ConversationUpdated {
            conversation: Some(crate::convert::conversation_to_proto(&c)),
            agent_id: agent_id.to_owned(),
            previous_owner_id: String::new(),
        };
        service
            .emit(tx, &event.ctx, EventPayload::ConversationUpdated(updated))
            .await?;
    }
    Ok(())
}

/// `form.submitted`: the submission is an entry in a conversation of its own
/// (channel `web`, under the form's name), which waits for an answer like a
/// message does; the answer goes by email and is filed in it (its
/// `ChannelMessage.conversation_id`). A submission delivered twice is one entry.
pub(crate) async fn form(
    service: &ActivitiesService,
    tx: &mut Tx,
    event: &Event<'_>,
    f: &ev::FormSubmitted,
) -> Result<()> {
    let detail = f.form.clone().unwrap_or_default();
    let key = match f.submission_id.as_str() {
        "" => format!("event:{}", event.id),
        id => format!("form:{id}"),
    };
    // Filed already (also before forms had conversations): nothing to start.
    if store::entry_by_key(tx, &key).await?.is_some() {
        return Ok(());
    }
    let at = f
        .submitted_at
        .as_ref()
        .map_or(event.at, millis_from_timestamp);
    let links = Links {
        contact_id: non_empty(&f.contact_id),
        lead_id: non_empty(&f.lead_id),
        company_id: non_empty(&f.company_id),
        deal_id: None,
    };
    let conversation = match store::conversation_by_thread(tx, "web", &key).await? {
        Some(known) => known.id,
        None => {
            let started = new_conversation("web", key.clone(), &detail.form, &links, at);
            store::insert_conversation(tx, &started).await?;
            started.id
        }
    };
    let now = now_millis();
    let body = detail.fields.get("comment").cloned().unwrap_or_default();
    let summary = summary_line(&format!("Form “{}” submitted", detail.form));
    let entry = Entry {
        id: new_id(),
        kind: EntryKind::Form,
        occurred_at: at,
        links: links.clone(),
        conversation_id: Some(conversation.clone()),
        summary,
        body,
        author_id: String::new(),
        detail: Some(Detail::Form(detail)),
        external_key: Some(key),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    if store::insert_entry(tx, &entry).await? {
        let preview = match entry.body.as_str() {
            "" => entry.summary.clone(),
            body => summary_line(body),
        };
        let touch = store::Touch {
            at,
            links: &links,
            inbound: true,
            automatic: false,
            preview: &preview,
        };
        touched(service, tx, event, &conversation, &touch, "").await?;
    }
    Ok(())
}

/// The conversation a message belongs to, created when it starts one.
async fn conversation_for(
    tx: &mut Tx,
    cm: &ev::ChannelMessage,
    detail: &pb::MessageDetail,
    channel: &str,
    links: &Links,
    at: i64,
) -> Result<String> {
    // An answer names the conversation of what it answers.
    if !cm.conversation_id.is_empty()
        && let Some(c) = store::get_conversation(tx, &cm.conversation_id).await?
    {
        return Ok(c.id);
    }
    if !cm.thread_key.is_empty()
        && let Some(c) = store::conversation_by_thread(tx, channel, &cm.thread_key).await?
    {
        return Ok(c.id);
    }
    // The latest of what it answers: a message from anywhere may name thousands,
    // each a bind parameter.
    let skip = cm.references.len().saturating_sub(MAX_REFERENCES);
    let answered: Vec<String> = cm
        .references
        .iter()
        .skip(skip)
        .map(|r| format!("msg:{channel}:{r}"))
        .collect();
    if let Some(id) = store::conversation_of_entries(tx, &answered).await? {
        return Ok(id);
    }
    let thread_key = [&cm.thread_key, &detail.external_id]
        .into_iter()
        .find(|k| !k.is_empty())
        .cloned()
        .unwrap_or_else(new_id);
    let conversation = new_conversation(channel, thread_key, &detail.subject, links, at);
    store::insert_conversation(tx, &conversation).await?;
    Ok(conversation.id)
}

/// A conversation that starts with an entry at `at`.
fn new_conversation(
    channel: &str,
    thread_key: String,
    subject: &str,
    links: &Links,
    at: i64,
) -> Conversation {
    Conversation {
        id: new_id(),
        channel: channel.to_owned(),
        thread_key,
        subject: summary_line(subject),
        links: links.clone(),
        started_at: at,
        last_at: at,
        entries: 0,
        owner_id: String::new(),
        waiting: false,
        last_direction: String::new(),
        preview: String::new(),
    }
}

/// A message edited after it was sent: the new text replaces the old, which is kept.
pub(crate) async fn edit(
    tx: &mut Tx,
    event: &Event<'_>,
    mut entry: Entry,
    mut detail: pb::MessageDetail,
) -> Result<()> {
    let revisions = store::revisions(tx, &entry.id).await?;
    let revision = Revision {
        revision: revisions.last().map_or(1, |r| r.revision + 1),
        body: entry.body.clone(),
        edited_by: detail.from.clone(),
        edited_at: event.at,
    };
    store::insert_revision(tx, &entry.id, &revision).await?;
    let edits = match &entry.detail {
        Some(Detail::Message(old)) => old.edits,
        _ => 0,
    };
    detail.edits = edits + 1;
    entry.body = detail.text.clone();
    if detail.subject.trim().is_empty() {
        entry.summary = summary_line(&detail.text);
    }
    entry.detail = Some(Detail::Message(detail));
    entry.updated_at = now_millis();
    store::update_entry(tx, &entry).await
}
