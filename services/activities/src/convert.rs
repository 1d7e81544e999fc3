//! Conversions between the activities records and the `ringside.activities.v1`
//! messages. Requests are validated on the way in: ids are bounded, enums known.

use ringside_identity::Invalid;
use ringside_proto::activities::v1 as pb;
use ringside_proto::timestamp_from_millis as ts;

use crate::model::{
    Conversation, Entry, EntryKind, InboxOwner, InboxQuery, Links, Revision, Subject, SubjectKind,
    SubjectSummary, Task, TaskStatus, TaskType,
};

pub use ringside_identity::fields::{MAX_ID, id, optional_id};

pub fn links_from_proto(links: Option<&pb::Links>) -> Result<Links, Invalid> {
    let Some(l) = links else {
        return Ok(Links::default());
    };
    Ok(Links {
        contact_id: optional_id("links.contact_id", &l.contact_id)?,
        lead_id: optional_id("links.lead_id", &l.lead_id)?,
        company_id: optional_id("links.company_id", &l.company_id)?,
        deal_id: optional_id("links.deal_id", &l.deal_id)?,
    })
}

pub fn links_to_proto(l: &Links) -> pb::Links {
    pb::Links {
        contact_id: l.contact_id.clone().unwrap_or_default(),
        lead_id: l.lead_id.clone().unwrap_or_default(),
        company_id: l.company_id.clone().unwrap_or_default(),
        deal_id: l.deal_id.clone().unwrap_or_default(),
    }
}

pub fn subject_from_proto(subject: Option<&pb::Subject>) -> Result<Subject, Invalid> {
    use pb::subject::Subject as S;
    let missing = || Invalid::new("subject", "a contact, lead, company or deal id is required");
    let subject = subject
        .and_then(|s| s.subject.as_ref())
        .ok_or_else(missing)?;
    Ok(match subject {
        S::ContactId(v) => Subject::Contact(id("subject.contact_id", v)?),
        S::LeadId(v) => Subject::Lead(id("subject.lead_id", v)?),
        S::CompanyId(v) => Subject::Company(id("subject.company_id", v)?),
        S::DealId(v) => Subject::Deal(id("subject.deal_id", v)?),
    })
}

pub fn entry_kind_from_proto(kind: i32) -> Result<EntryKind, Invalid> {
    match pb::EntryKind::try_from(kind) {
        Ok(pb::EntryKind::Call) => Ok(EntryKind::Call),
        Ok(pb::EntryKind::Message) => Ok(EntryKind::Message),
        Ok(pb::EntryKind::Note) => Ok(EntryKind::Note),
        Ok(pb::EntryKind::Form) => Ok(EntryKind::Form),
        Ok(pb::EntryKind::System) => Ok(EntryKind::System),
        _ => Err(Invalid::new("kinds", format!("unknown entry kind {kind}"))),
    }
}

fn entry_kind_to_proto(kind: EntryKind) -> pb::EntryKind {
    match kind {
        EntryKind::Call => pb::EntryKind::Call,
        EntryKind::Message => pb::EntryKind::Message,
        EntryKind::Note => pb::EntryKind::Note,
        EntryKind::Form => pb::EntryKind::Form,
        EntryKind::System => pb::EntryKind::System,
    }
}

/// A task type; unspecified is `default`.
pub fn task_type_from_proto(
    value: i32,
    default: Option<TaskType>,
) -> Result<Option<TaskType>, Invalid> {
    match pb::TaskType::try_from(value) {
        Ok(pb::TaskType::Unspecified) => Ok(default),
        Ok(pb::TaskType::CallBack) => Ok(Some(TaskType::CallBack)),
        Ok(pb::TaskType::Email) => Ok(Some(TaskType::Email)),
        Ok(pb::TaskType::Meeting) => Ok(Some(TaskType::Meeting)),
        Ok(pb::TaskType::Todo) => Ok(Some(TaskType::Todo)),
        Err(_) => Err(Invalid::new("type", format!("unknown task type {value}"))),
    }
}

fn task_type_to_proto(t: TaskType) -> pb::TaskType {
    match t {
        TaskType::CallBack => pb::TaskType::CallBack,
        TaskType::Email => pb::TaskType::Email,
        TaskType::Meeting => pb::TaskType::Meeting,
        TaskType::Todo => pb::TaskType::Todo,
    }
}

/// A status filter; unspecified is `None` (open).
pub fn task_status_from_proto(value: i32) -> Result<Option<TaskStatus>, Invalid> {
    match pb::TaskStatus::try_from(value) {
        Ok(pb::TaskStatus::Unspecified) => Ok(None),
        Ok(pb::TaskStatus::Open) => Ok(Some(TaskStatus::Open)),
        Ok(pb::TaskStatus::Done) => Ok(Some(TaskStatus::Done)),
        Ok(pb::TaskStatus::Cancelled) => Ok(Some(TaskStatus::Cancelled)),
        Err(_) => Err(Invalid::new(
            "status",
            format!("unknown task status {value}"),
        )),
    }
}

fn task_status_to_proto(s: TaskStatus) -> pb::TaskStatus {
    match s {
        TaskStatus::Open => pb::TaskStatus::Open,
        TaskStatus::Done => pb::TaskStatus::Done,
        TaskStatus::Cancelled => pb::TaskStatus::Cancelled,
    }
}

pub fn subject_kind_from_proto(value: i32) -> Result<SubjectKind, Invalid> {
    match pb::SubjectKind::try_from(value) {
        Ok(pb::SubjectKind::Contact) => Ok(SubjectKind::Contact),
        Ok(pb::SubjectKind::Lead) => Ok(SubjectKind::Lead),
        Ok(pb::SubjectKind::Deal) => Ok(SubjectKind::Deal),
        _ => Err(Invalid::new("kind", "contact, lead or deal")),
    }
}

pub fn subject_kind_to_proto(kind: SubjectKind) -> pb::SubjectKind {
    match kind {
        SubjectKind::Contact => pb::SubjectKind::Contact,
        SubjectKind::Lead => pb::SubjectKind::Lead,
        SubjectKind::Deal => pb::SubjectKind::Deal,
    }
}

pub fn entry_to_proto(e: &Entry) -> pb::Entry {
    pb::Entry {
        id: e.id.clone(),
        kind: entry_kind_to_proto(e.kind) as i32,
        occurred_at: Some(ts(e.occurred_at)),
        links: Some(links_to_proto(&e.links)),
        conversation_id: e.conversation_id.clone().unwrap_or_default(),
        summary: e.summary.clone(),
        text: e.body.clone(),
        author_id: e.author_id.clone(),
        created_at: Some(ts(e.created_at)),
        updated_at: Some(ts(e.updated_at)),
        deleted_at: e.deleted_at.map(ts),
        detail: e.detail.clone(),
    }
}

/// A task as clients see it; `now` decides whether it is overdue.
pub fn task_to_proto(t: &Task, now: i64) -> pb::Task {
    pb::Task {
        id: t.id.clone(),
        title: t.title.clone(),
        r#type: task_type_to_proto(t.task_type) as i32,
        assignee_id: t.assignee_id.clone(),
        due_at: Some(ts(t.due_at)),
        remind_at: Some(ts(t.remind_at)),
        status: task_status_to_proto(t.status) as i32,
        links: Some(links_to_proto(&t.links)),
        created_by: t.created_by.clone(),
        created_by_rule: t.created_by_rule.clone(),
        created_at: Some(ts(t.created_at)),
        updated_at: Some(ts(t.updated_at)),
        closed_at: t.closed_at.map(ts),
        reminded_at: t.reminded_at.map(ts),
        extension: t.extension.clone(),
        overdue: t.status == TaskStatus::Open && t.due_at < now,
    }
}

pub fn conversation_to_proto(c: &Conversation) -> pb::Conversation {
    let channel = match c.channel.as_str() {
        "telegram" => pb::Channel::Telegram,
        "email" => pb::Channel::Email,
        "web" => pb::Channel::Web,
        "phone" => pb::Channel::Phone,
        _ => pb::Channel::Unspecified,
    };
    pb::Conversation {
        id: c.id.clone(),
        channel: channel as i32,
        thread_key: c.thread_key.clone(),
        subject: c.subject.clone(),
        links: Some(links_to_proto(&c.links)),
        started_at: Some(ts(c.started_at)),
        last_at: Some(ts(c.last_at)),
        entries: c.entries,
        owner_id: c.owner_id.clone(),
        waiting: c.waiting,
        last_direction: match c.last_direction.as_str() {
            "inbound" => pb::Direction::Inbound,
            "outbound" => pb::Direction::Outbound,
            _ => pb::Direction::Unspecified,
        } as i32,
        preview: c.preview.clone(),
    }
}

/// An inbox query from its request; an unknown owner filter is refused.
pub fn inbox_query_from_proto(r: &pb::ListInboxRequest) -> Result<InboxQuery, Invalid> {
    let owner = match pb::InboxOwner::try_from(r.owner) {
        Ok(pb::InboxOwner::Unspecified) => InboxOwner::Any,
        Ok(pb::InboxOwner::Mine) => InboxOwner::Mine,
        Ok(pb::InboxOwner::Unassigned) => InboxOwner::Unassigned,
        Ok(pb::InboxOwner::Team) => InboxOwner::Team,
        Ok(pb::InboxOwner::MineOrUnassigned) => InboxOwner::MineOrUnassigned,
        Err(_) => return Err(Invalid::new("owner", "is not a known inbox filter")),
    };
    let channel = match pb::Channel::try_from(r.channel) {
        Ok(pb::Channel::Unspecified) => None,
        Ok(_) => Some(channel_name(r.channel).to_owned()),
        Err(_) => return Err(Invalid::new("channel", "is not a known channel")),
    };
    Ok(InboxQuery {
        owner,
        waiting: r.waiting,
        channel,
    })
}

/// The stored name of a channel.
pub fn channel_name(channel: i32) -> &'static str {
    match pb::Channel::try_from(channel) {
        Ok(pb::Channel::Telegram) => "telegram",
        Ok(pb::Channel::Email) => "email",
        Ok(pb::Channel::Web) => "web",
        Ok(pb::Channel::Phone) => "phone",
        _ => "other",
    }
}

pub fn revision_to_proto(r: &Revision) -> pb::NoteRevision {
    pb::NoteRevision {
        revision: i32::try_from(r.revision).unwrap_or(i32::MAX),
        text: r.body.clone(),
        edited_by: r.edited_by.clone(),
        edited_at: Some(ts(r.edited_at)),
    }
}

pub fn subject_summary_to_proto(s: &SubjectSummary, now: i64) -> pb::SubjectSummary {
    pb::SubjectSummary {
        kind: subject_kind_to_proto(s.kind) as i32,
        id: s.id.clone(),
        owner_id: s.owner_id.clone(),
        next_action: s.next_action.as_ref().map(|t| task_to_proto(t, now)),
    }
}
