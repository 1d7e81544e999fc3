//! The activities service's records: timeline entries and their links, conversations,
//! tasks, subjects (contacts, leads, deals as this service knows them) and pages.

use ringside_proto::activities::v1 as pb;

pub use pb::entry::Detail;

/// The records an entry or a task is about; any combination may be set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    pub contact_id: Option<String>,
    pub lead_id: Option<String>,
    pub company_id: Option<String>,
    pub deal_id: Option<String>,
}

impl Links {
    pub fn is_empty(&self) -> bool {
        self.contact_id.is_none()
            && self.lead_id.is_none()
            && self.company_id.is_none()
            && self.deal_id.is_none()
    }

    /// The subjects that have a next action (contacts, leads, deals).
    /// Every client and deal linked, companies included.
    pub fn all(&self) -> Vec<Subject> {
        let mut out = Vec::new();
        if let Some(id) = &self.contact_id {
            out.push(Subject::Contact(id.clone()));
        }
        if let Some(id) = &self.lead_id {
            out.push(Subject::Lead(id.clone()));
        }
        if let Some(id) = &self.company_id {
            out.push(Subject::Company(id.clone()));
        }
        if let Some(id) = &self.deal_id {
            out.push(Subject::Deal(id.clone()));
        }
        out
    }

    pub fn subjects(&self) -> Vec<(SubjectKind, String)> {
        let mut out = Vec::new();
        if let Some(id) = &self.contact_id {
            out.push((SubjectKind::Contact, id.clone()));
        }
        if let Some(id) = &self.lead_id {
            out.push((SubjectKind::Lead, id.clone()));
        }
        if let Some(id) = &self.deal_id {
            out.push((SubjectKind::Deal, id.clone()));
        }
        out
    }
}

/// What a timeline or a query is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Contact(String),
    Lead(String),
    Company(String),
    Deal(String),
}

impl Subject {
    /// The link column that holds this subject.
    pub fn column(&self) -> &'static str {
        match self {
            Subject::Contact(_) => "contact_id",
            Subject::Lead(_) => "lead_id",
            Subject::Company(_) => "company_id",
            Subject::Deal(_) => "deal_id",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Subject::Contact(id) | Subject::Lead(id) | Subject::Company(id) | Subject::Deal(id) => {
                id
            }
        }
    }

    /// Contacts, leads and deals have tasks; companies do not.
    /// What this names, as a not-found error says it.
    pub fn noun(&self) -> &'static str {
        match self {
            Subject::Contact(_) => "contact",
            Subject::Lead(_) => "lead",
            Subject::Company(_) => "company",
            Subject::Deal(_) => "deal",
        }
    }

    /// Whose reach decides who sees this subject's activities.
    pub fn entity(&self) -> ringside_auth::visibility::Entity {
        use ringside_auth::visibility::Entity;
        match self {
            Subject::Contact(_) => Entity::Contact,
            Subject::Lead(_) => Entity::Lead,
            Subject::Company(_) => Entity::Company,
            Subject::Deal(_) => Entity::Deal,
        }
    }

    pub fn kind(&self) -> Option<SubjectKind> {
        match self {
            Subject::Contact(_) => Some(SubjectKind::Contact),
            Subject::Lead(_) => Some(SubjectKind::Lead),
            Subject::Deal(_) => Some(SubjectKind::Deal),
            Subject::Company(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    Contact,
    Lead,
    Deal,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Contact => "contact",
            SubjectKind::Lead => "lead",
            SubjectKind::Deal => "deal",
        }
    }

    pub fn column(self) -> &'static str {
        match self {
            SubjectKind::Contact => "contact_id",
            SubjectKind::Lead => "lead_id",
            SubjectKind::Deal => "deal_id",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "contact" => Some(SubjectKind::Contact),
            "lead" => Some(SubjectKind::Lead),
            "deal" => Some(SubjectKind::Deal),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Call,
    Message,
    Note,
    Form,
    System,
}

impl EntryKind {
    pub const ALL: [EntryKind; 5] = [
        EntryKind::Call,
        EntryKind::Message,
        EntryKind::Note,
        EntryKind::Form,
        EntryKind::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Call => "call",
            EntryKind::Message => "message",
            EntryKind::Note => "note",
            EntryKind::Form => "form",
            EntryKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub kind: EntryKind,
    pub occurred_at: i64,
    pub links: Links,
    pub conversation_id: Option<String>,
    pub summary: String,
    /// A note's text, or the note attached to a call.
    pub body: String,
    pub author_id: String,
    pub detail: Option<Detail>,
    pub external_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

/// A note's earlier text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub revision: i64,
    pub body: String,
    pub edited_by: String,
    pub edited_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: String,
    pub channel: String,
    pub thread_key: String,
    pub subject: String,
    pub links: Links,
    pub started_at: i64,
    pub last_at: i64,
    pub entries: i64,
    /// The client's owner as the subjects projection knows it (read with the inbox).
    pub owner_id: String,
    /// The client wrote last and nobody has answered since.
    pub waiting: bool,
    /// `inbound` or `outbound`: who wrote the latest message.
    pub last_direction: String,
    /// The latest message's first line.
    pub preview: String,
}

/// Whose conversations an inbox lists, within the caller's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxOwner {
    Any,
    Mine,
    Unassigned,
    Team,
    MineOrUnassigned,
}

/// An inbox query: whose, waiting only, one channel only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxQuery {
    pub owner: InboxOwner,
    pub waiting: bool,
    pub channel: Option<String>,
}

/// Owners a query keeps: these people, and nobody's records when `nobody`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedBy {
    pub people: Vec<String>,
    pub nobody: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskType {
    CallBack,
    Email,
    Meeting,
    Todo,
}

impl TaskType {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::CallBack => "call_back",
            TaskType::Email => "email",
            TaskType::Meeting => "meeting",
            TaskType::Todo => "todo",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            TaskType::CallBack,
            TaskType::Email,
            TaskType::Meeting,
            TaskType::Todo,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Open,
    Done,
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(TaskStatus::Open),
            "done" => Some(TaskStatus::Done),
            "cancelled" => Some(TaskStatus::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub task_type: TaskType,
    pub assignee_id: String,
    pub due_at: i64,
    pub remind_at: i64,
    pub reminded_at: Option<i64>,
    pub status: TaskStatus,
    pub links: Links,
    pub created_by: String,
    pub created_by_rule: String,
    pub extension: String,
    pub dedupe_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

/// A task as a person asks for it.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub title: String,
    pub task_type: TaskType,
    /// Empty: the caller.
    pub assignee_id: String,
    pub due_at: i64,
    /// `None`: at the due time.
    pub remind_at: Option<i64>,
    pub links: Links,
}

#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<String>,
    pub task_type: Option<TaskType>,
    pub assignee_id: Option<String>,
    pub due_at: Option<i64>,
    pub remind_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub assignee_id: Option<String>,
    pub unassigned_only: bool,
    /// `None`: open.
    pub status: Option<TaskStatus>,
    pub overdue_only: bool,
    pub due_from: Option<i64>,
    pub due_to: Option<i64>,
    pub subject: Option<Subject>,
    /// Only tasks assigned to these people (`None`: anyone's): the caller's scope.
    pub people: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectFilter {
    NoOpenTask,
    Overdue,
}

/// A contact, lead or deal and its next action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectSummary {
    pub kind: SubjectKind,
    pub id: String,
    pub owner_id: String,
    pub next_action: Option<Task>,
}

pub use ringside_kit::Ctx;

pub use ringside_identity::paging::{Cursor, Page, Paged};
