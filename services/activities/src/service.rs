//! The activities service's operations for people: timelines, notes, tasks, next
//! actions and the manager filters. Each write validates its input (links are checked
//! before any transaction starts, so no lock is held while contacts answers), runs in
//! one transaction with its events in the outbox, and wakes the relay after the commit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ringside_auth::visibility::{Entity, Reach, Scope};
use ringside_bus::{EventPayload, outbox};
use ringside_identity::{Invalid, optional_text, required_body, required_text};
use ringside_kit::scope::Owners;
use ringside_proto::activities::v1 as pb;
use ringside_proto::events::v1 as ev;
use ringside_storage::{Db, Tx, new_id, now_millis};
use sqlx::AnyConnection;
use tokio::sync::Notify;

use crate::convert::task_to_proto;
use crate::domain::summary_line;
use crate::error::{ActivitiesError, Result};
use crate::model::{
    Conversation, Ctx, Detail, Entry, EntryKind, InboxOwner, InboxQuery, Links, NewTask, OwnedBy,
    Page, Paged, Revision, Subject, SubjectFilter, SubjectKind, SubjectSummary, Task, TaskFilter,
    TaskPatch, TaskStatus,
};
use crate::peers::{AgentMap, Peers, Record};
use crate::store;

/// Open tasks a client's history lists.
const HISTORY_TASKS: i64 = 10;
/// Batches of a company's conversations scanned for one page at most.
const MAX_SCANS: usize = 10;

/// What a caller-ID card shows of a client's history.
#[derive(Debug, Clone, Default)]
pub struct ClientHistory {
    /// Newest first.
    pub recent: Vec<Entry>,
    pub last_call: Option<Entry>,
    /// Earliest due first.
    pub open_tasks: Vec<Task>,
}

/// Whether `entry` is the call `call_id`.
fn is_call(entry: &Entry, call_id: &str) -> bool {
    matches!(&entry.detail, Some(Detail::Call(c)) if !call_id.is_empty() && c.call_id == call_id)
}

/// Settings of the activities service.
#[derive(Debug, Clone)]
pub struct ActivitiesConfig {
    /// How soon a missed call must be called back.
    pub callback_within: Duration,
    /// Which user answers which extension.
    pub agents: AgentMap,
}

impl Default for ActivitiesConfig {
    fn default() -> Self {
        ActivitiesConfig {
            callback_within: Duration::from_secs(15 * 60),
            agents: AgentMap::default(),
        }
    }
}

#[derive(Clone)]
pub struct ActivitiesService {
    pub(crate) db: Db,
    pub(crate) peers: Peers,
    pub(crate) config: ActivitiesConfig,
    outbox: outbox::Writer,
    reminder_wake: Arc<Notify>,
    /// Who tasks can go to and whose tasks a manager sees (staff).
    owners: Option<Owners>,
}

impl ActivitiesService {
    /// `relay_wake` is the outbox relay's waker ([`ringside_bus::outbox::Relay::waker`]).
    pub fn new(db: Db, peers: Peers, config: ActivitiesConfig, relay_wake: Arc<Notify>) -> Self {
        ActivitiesService {
            db,
            peers,
            config,
            outbox: outbox::Writer::new(crate::SOURCE, relay_wake),
            reminder_wake: Arc::new(Notify::new()),
            owners: None,
        }
    }

    /// Checks assignees with staff and learns the members of a manager's teams.
    pub fn with_owners(mut self, owners: Owners) -> Self {
        self.owners = Some(owners);
        self
    }

    // ------------------------------------------------------------ visibility

    /// Whether the caller sees `subject` — and so its timeline, conversations and
    /// tasks — as the service that keeps it says who owns it.
    async fn sees(&self, ctx: &Ctx, subject: &Subject) -> Result<bool> {
        let scope = ctx.scope(subject.entity());
        if scope.reach == Reach::All {
            return Ok(true);
        }
        Ok(match self.peers.standing(subject).await? {
            Some((owner, team)) => scope.sees(&owner, &team),
            None => false,
        })
    }

    /// A subject the caller does not see is not found.
    async fn require(&self, ctx: &Ctx, subject: &Subject) -> Result<()> {
        match self.sees(ctx, subject).await? {
            true => Ok(()),
            false => Err(ActivitiesError::not_found(subject.noun(), subject.id())),
        }
    }

    /// Whether the caller sees any client or deal `links` names.
    async fn sees_any(&self, ctx: &Ctx, links: &Links) -> Result<bool> {
        for subject in links.all() {
            if self.sees(ctx, &subject).await? {
                return Ok(true);
            }
        }
        Ok(ctx.scope(Entity::Contact).reach == Reach::All)
    }

    /// Whose tasks (or clients) the caller's scope covers: `None` for everyone.
    async fn people(&self, ctx: &Ctx, entity: Entity) -> Result<Option<Vec<String>>> {
        let scope = ctx.scope(entity);
        match (&self.owners, scope.reach) {
            (_, Reach::All) => Ok(None),
            (Some(owners), _) => Ok(owners.people(&scope).await?),
            (None, _) => Ok(Some(vec![scope.user.clone()])),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Notified whenever a reminder time may have moved earlier.
    pub fn reminder_waker(&self) -> Arc<Notify> {
        self.reminder_wake.clone()
    }

    pub(crate) async fn emit(&self, tx: &mut Tx, ctx: &Ctx, payload: EventPayload) -> Result<()> {
        self.outbox.emit(tx, &ctx.correlation_id, payload).await?;
        Ok(())
    }

    pub(crate) async fn commit(&self, tx: Tx) -> Result<()> {
        Ok(self.outbox.commit(tx).await?)
    }

    // ------------------------------------------------------------ timeline

    pub async fn timeline(
        &self,
        ctx: &Ctx,
        subject: &Subject,
        kinds: &[EntryKind],
        conversation_id: Option<&str>,
        page: Page,
    ) -> Result<Paged<Entry>> {
        self.require(ctx, subject).await?;
        let mut paged = self
            .timeline_of(subject, kinds, conversation_id, page)
            .await?;
        if matches!(subject, Subject::Company(_) | Subject::Deal(_)) {
            paged.items = self.seen_entries(ctx, paged.items).await?;
        }
        Ok(paged)
    }

    async fn timeline_of(
        &self,
        subject: &Subject,
        kinds: &[EntryKind],
        conversation_id: Option<&str>,
        page: Page,
    ) -> Result<Paged<Entry>> {
        let mut conn = self.db.pool().acquire().await?;
        let items = store::timeline(&mut conn, subject, kinds, conversation_id, &page).await?;
        Ok(Paged::from_lookahead(items, page.size, |e| {
            crate::model::Cursor {
                at: e.occurred_at,
                id: e.id.clone(),
            }
        }))
    }

    /// What a caller-ID card shows of `subject`'s history: the `recent` latest
    /// entries, the last call and the open tasks (read at once), leaving out the
    /// call `except_call_id` (the one ringing now).
    pub async fn client_history(
        &self,
        ctx: &Ctx,
        subject: &Subject,
        recent: i64,
        except_call_id: &str,
    ) -> Result<ClientHistory> {
        self.require(ctx, subject).await?;
        let page = |size| Page { size, after: None };
        let tasks = TaskFilter {
            subject: Some(subject.clone()),
            ..TaskFilter::default()
        };
        // One more of each than needed, in case the excepted call is among them.
        let (latest, calls, tasks) = tokio::try_join!(
            self.timeline_of(subject, &[], None, page(recent + 1)),
            self.timeline_of(subject, &[EntryKind::Call], None, page(2)),
            self.tasks_of(tasks, page(HISTORY_TASKS)),
        )?;
        let kept = |e: &Entry| !is_call(e, except_call_id);
        Ok(ClientHistory {
            recent: latest
                .items
                .into_iter()
                .filter(kept)
                .take(recent as usize)
                .collect(),
            last_call: calls.items.into_iter().find(kept),
            open_tasks: tasks.items,
        })
    }

    /// An entry the caller sees: one they wrote, a call they took, or one about a
    /// client or deal they see.
    pub async fn get_entry(&self, ctx: &Ctx, id: &str) -> Result<Entry> {
        let mut conn = self.db.pool().acquire().await?;
        let entry = store::get_entry(&mut conn, id).await?;
        drop(conn);
        match self.sees_entry(ctx, &entry).await? {
            true => Ok(entry),
            false => Err(ActivitiesError::not_found("entry", id)),
        }
    }

    pub async fn get_call_entry(&self, ctx: &Ctx, call_id: &str) -> Result<Entry> {
        let mut conn = self.db.pool().acquire().await?;
        let entry = store::entry_by_key(&mut conn, &format!("call:{call_id}")).await?;
        drop(conn);
        match entry {
            Some(entry) if self.sees_entry(ctx, &entry).await? => Ok(entry),
            _ => Err(ActivitiesError::not_found("call", call_id)),
        }
    }

    async fn sees_entry(&self, ctx: &Ctx, entry: &Entry) -> Result<bool> {
        match mine(ctx, entry) {
            true => Ok(true),
            false => self.sees_about(ctx, &entry.links).await,
        }
    }

    /// Whether the caller sees what an entry is about: the contact or lead it names
    /// when it names one (a call at a company is its caller's), else its company or
    /// deal.
    async fn sees_about(&self, ctx: &Ctx, links: &Links) -> Result<bool> {
        let person = match (&links.contact_id, &links.lead_id) {
            (Some(id), _) => Some(Subject::Contact(id.clone())),
            (None, Some(id)) => Some(Subject::Lead(id.clone())),
            (None, None) => None,
        };
        match person {
            Some(subject) => self.sees(ctx, &subject).await,
            None => self.sees_any(ctx, links).await,
        }
    }

    /// The entries of a page the caller sees: on a company's or deal's timeline,
    /// those about its people are theirs to see only if the people are (each person
    /// asked once).
    async fn seen_entries(&self, ctx: &Ctx, entries: Vec<Entry>) -> Result<Vec<Entry>> {
        if ctx.scope(Entity::Contact).reach == Reach::All {
            return Ok(entries);
        }
        let mut known: HashMap<(Option<String>, Option<String>), bool> = HashMap::new();
        let mut kept = Vec::with_capacity(entries.len());
        for entry in entries {
            let person = (entry.links.contact_id.clone(), entry.links.lead_id.clone());
            let seen = match known.get(&person) {
                _ if mine(ctx, &entry) => true,
                Some(seen) => *seen,
                None => {
                    let seen = self.sees_about(ctx, &entry.links).await?;
                    known.insert(person, seen);
                    seen
                }
            };
            if seen {
                kept.push(entry);
            }
        }
        Ok(kept)
    }

    /// Adds the agent's note (and outcome) to a call's entry; earlier notes are kept as
    /// revisions. The call must have been seen.
    pub async fn add_call_note(
        &self,
        ctx: &Ctx,
        call_id: &str,
        text: &str,
        outcome: &str,
    ) -> Result<Entry> {
        let text = match text.trim() {
            "" => String::new(),
            t => required_body("text", t)?,
        };
        let outcome = optional_text("outcome", outcome)?;
        if text.is_empty() && outcome.is_empty() {
            return Err(Invalid::new("text", "a note or an outcome is required").into());
        }
        // The agent who took the call, or who sees its client (notifications files
        // the card's notes for the agent with its own reach).
        self.get_call_entry(ctx, call_id).await?;
        let mut tx = self.db.begin().await?;
        let key = format!("call:{call_id}");
        let mut entry = store::entry_by_key_for_update(&mut tx, &key)
            .await?
            .ok_or_else(|| ActivitiesError::not_found("call", call_id))?;
        let now = now_millis();
        if !text.is_empty() {
            if !entry.body.is_empty() {
                let revisions = store::revisions(&mut tx, &entry.id).await?;
                let revision = Revision {
                    revision: revisions.last().map_or(1, |r| r.revision + 1),
                    body: entry.body.clone(),
                    edited_by: ctx.actor.clone(),
                    edited_at: now,
                };
                store::insert_revision(&mut tx, &entry.id, &revision).await?;
            }
            entry.body = text;
        }
        if let (false, Some(Detail::Call(call))) = (outcome.is_empty(), entry.detail.as_mut()) {
            call.agent_outcome = outcome;
        }
        entry.updated_at = now;
        store::update_entry(&mut tx, &entry).await?;
        self.commit(tx).await?;
        Ok(entry)
    }

    pub async fn list_conversations(
        &self,
        ctx: &Ctx,
        subject: &Subject,
        page: Page,
    ) -> Result<Paged<Conversation>> {
        self.require(ctx, subject).await?;
        let cursor = |c: &Conversation| crate::model::Cursor {
            at: c.last_at,
            id: c.id.clone(),
        };
        let mut conn = self.db.pool().acquire().await?;
        let items = store::list_conversations(&mut conn, subject, &page).await?;
        drop(conn);
        if !matches!(subject, Subject::Company(_)) {
            return Ok(Paged::from_lookahead(items, page.size, cursor));
        }
        let (seen, stopped_at) = self
            .seen_conversations(ctx, subject, page.clone(), items)
            .await?;
        match stopped_at {
            Some(next) if seen.len() as i64 <= page.size => Ok(Paged {
                items: seen,
                next: Some(next),
            }),
            _ => Ok(Paged::from_lookahead(seen, page.size, cursor)),
        }
    }

    /// A company's conversations are each its person's: those the caller sees, one
    /// more than a page when there are (so the page knows it has a next), scanning
    /// on past those filtered out — each person asked about once, and at most
    /// [`MAX_SCANS`] batches: then the page may come short, with where the scan
    /// stopped as its next. `first` is the first batch read from `page`.
    async fn seen_conversations(
        &self,
        ctx: &Ctx,
        subject: &Subject,
        mut page: Page,
        first: Vec<Conversation>,
    ) -> Result<(Vec<Conversation>, Option<crate::model::Cursor>)> {
        let mut seen = Vec::new();
        let mut known: HashMap<(Option<String>, Option<String>), bool> = HashMap::new();
        let mut batch = first;
        let mut scanned = 0;
        loop {
            scanned += 1;
            let full = batch.len() as i64 > page.size;
            let last = batch.last().map(|c| crate::model::Cursor {
                at: c.last_at,
                id: c.id.clone(),
            });
            for c in batch {
                let person = (c.links.contact_id.clone(), c.links.lead_id.clone());
                let sees = match known.get(&person) {
                    Some(sees) => *sees,
                    None => self.sees_about(ctx, &c.links).await?,
                };
                known.insert(person, sees);
                if sees {
                    seen.push(c);
                }
            }
            if seen.len() as i64 > page.size || !full {
                return Ok((seen, None));
            }
            if scanned == MAX_SCANS {
                return Ok((seen, last));
            }
            page.after = last;
            let mut conn = self.db.pool().acquire().await?;
            batch = store::list_conversations(&mut conn, subject, &page).await?;
        }
    }

    /// The conversation `id`, when the caller sees a client it is about.
    pub async fn get_conversation(&self, ctx: &Ctx, id: &str) -> Result<Conversation> {
        let mut conn = self.db.pool().acquire().await?;
        let found = store::get_conversation(&mut conn, id).await?;
        drop(conn);
        match found {
            Some(c) if self.sees_about(ctx, &c.links).await? => Ok(c),
            _ => Err(ActivitiesError::not_found("conversation", id)),
        }
    }

    /// The inbox: conversations of the clients the caller sees, latest first.
    pub async fn list_inbox(
        &self,
        ctx: &Ctx,
        query: &InboxQuery,
        page: Page,
    ) -> Result<Paged<Conversation>> {
        let visible = self.people(ctx, Entity::Contact).await?;
        let owned_by = self.owned_by(ctx, query.owner).await?;
        let mut conn = self.db.pool().acquire().await?;
        let items = store::list_inbox(
            &mut conn,
            visible.as_deref(),
            owned_by.as_ref(),
            query,
            &page,
        )
        .await?;
        Ok(Paged::from_lookahead(items, page.size, |c| {
            crate::model::Cursor {
                at: c.last_at,
                id: c.id.clone(),
            }
        }))
    }

    /// The owners an inbox's `owner` filter keeps (`None`: any).
    async fn owned_by(&self, ctx: &Ctx, owner: InboxOwner) -> Result<Option<OwnedBy>> {
        let scope = ctx.scope(Entity::Contact);
        let me = || vec![scope.user.clone()];
        Ok(Some(match owner {
            InboxOwner::Any => return Ok(None),
            InboxOwner::Mine => OwnedBy {
                people: me(),
                nobody: false,
            },
            InboxOwner::Unassigned => OwnedBy {
                people: Vec::new(),
                nobody: true,
            },
            InboxOwner::MineOrUnassigned => OwnedBy {
                people: me(),
                nobody: true,
            },
            InboxOwner::Team => {
                let teams = Scope {
                    reach: Reach::Team,
                    ..scope.clone()
                };
                let people = match &self.owners {
                    Some(owners) => owners.people(&teams).await?.unwrap_or_else(me),
                    None => me(),
                };
                OwnedBy {
                    people,
                    nobody: false,
                }
            }
        }))
    }

    // ------------------------------------------------------------ notes

    pub async fn add_note(&self, ctx: &Ctx, links: Links, text: &str) -> Result<Entry> {
        let body = required_body("text", text)?;
        if links.is_empty() {
            return Err(Invalid::new(
                "links",
                "a note must be about a contact, lead, company or deal",
            )
            .into());
        }
        self.check_links(&links).await?;
        for subject in links.all() {
            self.require(ctx, &subject).await?;
        }
        let now = now_millis();
        let entry = Entry {
            id: new_id(),
            kind: EntryKind::Note,
            occurred_at: now,
            links,
            conversation_id: None,
            summary: summary_line(&body),
            body,
            author_id: ctx.actor.clone(),
            detail: None,
            external_key: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let mut tx = self.db.begin().await?;
        store::insert_entry(&mut tx, &entry).await?;
        self.commit(tx).await?;
        Ok(entry)
    }

    /// Files a call logged by hand on `links`, written by the caller.
    pub async fn log_call(
        &self,
        ctx: &Ctx,
        links: Links,
        call: &pb::LogCallRequest,
    ) -> Result<Entry> {
        if links.is_empty() {
            let why = "a call must be about a contact, lead, company or deal";
            return Err(Invalid::new("links", why).into());
        }
        let entry = crate::domain::logged_call(&ctx.actor, links, call, now_millis())?;
        self.check_links(&entry.links).await?;
        for subject in entry.links.all() {
            self.require(ctx, &subject).await?;
        }
        let mut tx = self.db.begin().await?;
        store::insert_entry(&mut tx, &entry).await?;
        self.commit(tx).await?;
        Ok(entry)
    }

    /// Replaces a note's text; the old text is kept as a revision.
    pub async fn edit_note(&self, ctx: &Ctx, id: &str, text: &str) -> Result<Entry> {
        let body = required_body("text", text)?;
        self.get_entry(ctx, id).await?;
        let mut tx = self.db.begin().await?;
        let mut entry = own_note(&mut tx, ctx, id).await?;
        let revisions = store::revisions(&mut tx, id).await?;
        let now = now_millis();
        let revision = Revision {
            revision: revisions.last().map_or(1, |r| r.revision + 1),
            body: std::mem::replace(&mut entry.body, body),
            edited_by: ctx.actor.clone(),
            edited_at: now,
        };
        store::insert_revision(&mut tx, id, &revision).await?;
        entry.summary = summary_line(&entry.body);
        entry.updated_at = now;
        store::update_entry(&mut tx, &entry).await?;
        self.commit(tx).await?;
        Ok(entry)
    }

    /// Deletes a note (it stays readable by id, off the timeline).
    pub async fn delete_note(&self, ctx: &Ctx, id: &str) -> Result<Entry> {
        self.get_entry(ctx, id).await?;
        let mut tx = self.db.begin().await?;
        let mut entry = own_note(&mut tx, ctx, id).await?;
        let now = now_millis();
        entry.deleted_at = Some(now);
        entry.updated_at = now;
        store::update_entry(&mut tx, &entry).await?;
        self.commit(tx).await?;
        Ok(entry)
    }

    pub async fn note_history(&self, ctx: &Ctx, id: &str) -> Result<Vec<Revision>> {
        let entry = self.get_entry(ctx, id).await?;
        let mut conn = self.db.pool().acquire().await?;
        if entry.kind != EntryKind::Note {
            return Err(ActivitiesError::not_found("note", id));
        }
        store::revisions(&mut conn, id).await
    }

    /// Fails with `NotFound` for any link that names nothing. Contacts and leads this
    /// service has not heard of yet are asked of contacts; deals must be known here.
    pub async fn check_links(&self, links: &Links) -> Result<()> {
        let checks = [
            (
                Record::Contact,
                SubjectKind::Contact,
                &links.contact_id,
                "contact",
            ),
            (Record::Lead, SubjectKind::Lead, &links.lead_id, "lead"),
        ];
        let mut conn = self.db.pool().acquire().await?;
        for (record, kind, id, name) in checks {
            let Some(id) = id else { continue };
            if !store::subject_known(&mut conn, kind, id).await?
                && !self.peers.exists(record, id).await?
            {
                return Err(ActivitiesError::not_found(name, id));
            }
        }
        if let Some(id) = &links.company_id
            && !self.peers.exists(Record::Company, id).await?
        {
            return Err(ActivitiesError::not_found("company", id));
        }
        if let Some(id) = &links.deal_id
            && !store::subject_known(&mut conn, SubjectKind::Deal, id).await?
        {
            return Err(ActivitiesError::not_found("deal", id));
        }
        Ok(())
    }

    // ------------------------------------------------------------ tasks

    pub async fn create_task(&self, ctx: &Ctx, new: NewTask) -> Result<Task> {
        let title = required_text("title", &new.title)?;
        let assignee = match optional_text("assignee_id", &new.assignee_id)? {
            a if a.is_empty() => ctx.actor.clone(),
            a => a,
        };
        if new.links.company_id.is_some() {
            return Err(Invalid::new(
                "links.company_id",
                "tasks link to contacts, leads and deals",
            )
            .into());
        }
        self.check_links(&new.links).await?;
        for subject in new.links.all() {
            self.require(ctx, &subject).await?;
        }
        self.may_assign(ctx, &assignee).await?;
        let now = now_millis();
        let task = Task {
            id: new_id(),
            title,
            task_type: new.task_type,
            assignee_id: assignee,
            due_at: new.due_at,
            remind_at: new.remind_at.unwrap_or(new.due_at),
            reminded_at: None,
            status: TaskStatus::Open,
            links: new.links,
            created_by: ctx.actor.clone(),
            created_by_rule: String::new(),
            extension: String::new(),
            dedupe_key: None,
            created_at: now,
            updated_at: now,
            closed_at: None,
        };
        let mut tx = self.db.begin().await?;
        self.insert_task(&mut tx, ctx, &task).await?;
        self.commit(tx).await?;
        Ok(task)
    }

    /// Inserts `task` with its events and next actions. Returns `false` when a rule's
    /// open task with the same dedupe key exists (nothing is written then).
    pub(crate) async fn insert_task(&self, tx: &mut Tx, ctx: &Ctx, task: &Task) -> Result<bool> {
        if !store::insert_task(tx, task).await? {
            return Ok(false);
        }
        let payload = EventPayload::TaskCreated(ev::TaskCreated {
            task: Some(task_to_proto(task, now_millis())),
        });
        self.emit(tx, ctx, payload).await?;
        self.refresh_next_actions(tx, ctx, &task.links).await?;
        self.reminder_wake.notify_one();
        Ok(true)
    }

    /// A task the caller sees: theirs, or about a client or deal they see.
    pub async fn get_task(&self, ctx: &Ctx, id: &str) -> Result<Task> {
        let mut conn = self.db.pool().acquire().await?;
        let task = store::get_task(&mut conn, id).await?;
        drop(conn);
        let people = self.people(ctx, Entity::Task).await?;
        let theirs =
            task.assignee_id.is_empty() || people.is_none_or(|p| p.contains(&task.assignee_id));
        match theirs || self.sees_any(ctx, &task.links).await? {
            true => Ok(task),
            false => Err(ActivitiesError::not_found("task", id)),
        }
    }

    /// Refuses a task given to someone outside the caller's reach (an agent gives
    /// tasks to themselves, a manager within their teams).
    async fn may_assign(&self, ctx: &Ctx, assignee: &str) -> Result<()> {
        let scope = ctx.scope(Entity::Task);
        if scope.reach != Reach::All {
            ringside_kit::scope::stamp(self.owners.as_ref(), &scope, assignee).await?;
        }
        Ok(())
    }

    pub async fn update_task(&self, ctx: &Ctx, id: &str, patch: TaskPatch) -> Result<Task> {
        let title = patch
            .title
            .as_deref()
            .map(|t| required_text("title", t))
            .transpose()?;
        let assignee = patch
            .assignee_id
            .as_deref()
            .map(|a| optional_text("assignee_id", a))
            .transpose()?;
        self.get_task(ctx, id).await?;
        if let Some(assignee) = &assignee {
            self.may_assign(ctx, assignee).await?;
        }
        let mut tx = self.db.begin().await?;
        let mut task = open_task(&mut tx, id).await?;
        if let Some(title) = title {
            task.title = title;
        }
        if let Some(assignee) = assignee {
            task.assignee_id = assignee;
        }
        if let Some(task_type) = patch.task_type {
            task.task_type = task_type;
        }
        reschedule(&mut task, patch.due_at, patch.remind_at);
        self.save_task(&mut tx, ctx, &mut task).await?;
        self.commit(tx).await?;
        self.reminder_wake.notify_one();
        Ok(task)
    }

    pub async fn complete_task(&self, ctx: &Ctx, id: &str) -> Result<Task> {
        self.close_task(ctx, id, TaskStatus::Done).await
    }

    pub async fn cancel_task(&self, ctx: &Ctx, id: &str) -> Result<Task> {
        self.close_task(ctx, id, TaskStatus::Cancelled).await
    }

    async fn close_task(&self, ctx: &Ctx, id: &str, status: TaskStatus) -> Result<Task> {
        self.get_task(ctx, id).await?;
        let mut tx = self.db.begin().await?;
        let mut task = open_task(&mut tx, id).await?;
        let now = now_millis();
        task.status = status;
        task.closed_at = Some(now);
        self.save_task(&mut tx, ctx, &mut task).await?;
        if status == TaskStatus::Done && !task.links.is_empty() {
            let entry = task_done_entry(&task, &ctx.actor, now);
            store::insert_entry(&mut tx, &entry).await?;
        }
        self.commit(tx).await?;
        Ok(task)
    }

    /// Writes a changed task, its `task.updated` event and its subjects' next actions.
    async fn save_task(&self, tx: &mut Tx, ctx: &Ctx, task: &mut Task) -> Result<()> {
        task.updated_at = now_millis();
        store::update_task(tx, task).await?;
        let payload = EventPayload::TaskUpdated(ev::TaskUpdated {
            task: Some(task_to_proto(task, task.updated_at)),
        });
        self.emit(tx, ctx, payload).await?;
        self.refresh_next_actions(tx, ctx, &task.links).await
    }

    /// Recomputes the next action of every subject in `links`, with a
    /// `next_action.changed` event for each one that changed.
    pub(crate) async fn refresh_next_actions(
        &self,
        tx: &mut Tx,
        ctx: &Ctx,
        links: &Links,
    ) -> Result<()> {
        for (kind, id) in links.subjects() {
            let next = store::next_open_task(tx, kind, &id).await?;
            let before = store::set_next_action(tx, kind, &id, next.as_ref()).await?;
            let after = next.as_ref().map(|t| (t.id.clone(), t.due_at));
            if before != after {
                let payload = EventPayload::NextActionChanged(ev::NextActionChanged {
                    kind: crate::convert::subject_kind_to_proto(kind) as i32,
                    id,
                    task: next.as_ref().map(|t| task_to_proto(t, now_millis())),
                });
                self.emit(tx, ctx, payload).await?;
            }
        }
        Ok(())
    }

    /// Tasks under `filter` within the caller's scope: about a subject they see, or
    /// (without a subject) assigned to them or, for a manager, to their teams.
    pub async fn list_tasks(
        &self,
        ctx: &Ctx,
        mut filter: TaskFilter,
        page: Page,
    ) -> Result<Paged<Task>> {
        match &filter.subject {
            Some(subject) => self.require(ctx, subject).await?,
            None => filter.people = self.people(ctx, Entity::Task).await?,
        }
        self.tasks_of(filter, page).await
    }

    async fn tasks_of(&self, filter: TaskFilter, page: Page) -> Result<Paged<Task>> {
        let mut conn = self.db.pool().acquire().await?;
        let items = store::list_tasks(&mut conn, &filter, now_millis(), &page).await?;
        Ok(Paged::from_lookahead(items, page.size, |t| {
            crate::model::Cursor {
                at: t.due_at,
                id: t.id.clone(),
            }
        }))
    }

    /// The earliest open task of a contact, lead or deal.
    pub async fn next_action(&self, ctx: &Ctx, subject: &Subject) -> Result<Option<Task>> {
        self.require(ctx, subject).await?;
        let kind = subject.kind().ok_or_else(|| {
            Invalid::new(
                "subject",
                "companies have no tasks; ask for a contact, lead or deal",
            )
        })?;
        let mut conn = self.db.pool().acquire().await?;
        store::next_open_task(&mut conn, kind, subject.id()).await
    }

    /// Active contacts, leads or deals without an open task, or with an overdue one.
    /// Only those owned by people within the caller's scope (and the pool's).
    pub async fn list_subjects(
        &self,
        ctx: &Ctx,
        kind: SubjectKind,
        filter: SubjectFilter,
        owner_id: Option<&str>,
        page: Page,
    ) -> Result<Paged<SubjectSummary>> {
        let entity = match kind {
            SubjectKind::Contact => Entity::Contact,
            SubjectKind::Lead => Entity::Lead,
            SubjectKind::Deal => Entity::Deal,
        };
        let people = self.people(ctx, entity).await?;
        let mut conn = self.db.pool().acquire().await?;
        let now = now_millis();
        let items = store::list_subjects(
            &mut conn,
            kind,
            filter,
            owner_id,
            people.as_deref(),
            now,
            &page,
        )
        .await?;
        Ok(Paged::from_lookahead(items, page.size, move |s| {
            crate::model::Cursor {
                at: match filter {
                    SubjectFilter::Overdue => s.next_action.as_ref().map_or(0, |t| t.due_at),
                    SubjectFilter::NoOpenTask => 0,
                },
                id: s.id.clone(),
            }
        }))
    }
}

/// The note `id`, if `ctx` wrote it and it is not deleted.
/// Whether the caller wrote `entry` or took the call it is.
fn mine(ctx: &Ctx, entry: &Entry) -> bool {
    let me = ctx.actor.as_str();
    let took_it = matches!(&entry.detail, Some(Detail::Call(c)) if c.agent_id == me);
    !me.is_empty() && (entry.author_id == me || took_it)
}

async fn own_note(conn: &mut AnyConnection, ctx: &Ctx, id: &str) -> Result<Entry> {
    let entry = store::get_entry_for_update(conn, id).await?;
    if entry.kind != EntryKind::Note {
        return Err(ActivitiesError::not_found("note", id));
    }
    if entry.deleted_at.is_some() {
        return Err(ActivitiesError::FailedPrecondition(format!(
            "note {id} is deleted"
        )));
    }
    if entry.author_id != ctx.actor {
        return Err(ActivitiesError::PermissionDenied(
            "only the author may change a note".to_owned(),
        ));
    }
    Ok(entry)
}

/// The task `id`, if it is still open.
async fn open_task(conn: &mut AnyConnection, id: &str) -> Result<Task> {
    let task = store::get_task(conn, id).await?;
    if task.status != TaskStatus::Open {
        return Err(ActivitiesError::FailedPrecondition(format!(
            "task {id} is {}",
            task.status.as_str()
        )));
    }
    Ok(task)
}

/// Moves a task's due and reminder times. A reminder that followed the due time keeps
/// following it; a moved reminder fires again.
fn reschedule(task: &mut Task, due_at: Option<i64>, remind_at: Option<i64>) {
    let followed_due = task.remind_at == task.due_at;
    if let Some(due) = due_at {
        task.due_at = due;
    }
    let remind = remind_at.or((followed_due && due_at.is_some()).then_some(task.due_at));
    if let Some(remind) = remind
        && remind != task.remind_at
    {
        task.remind_at = remind;
        task.reminded_at = None;
    }
}

/// The system entry "task done" on the task's subjects' timelines.
fn task_done_entry(task: &Task, actor: &str, now: i64) -> Entry {
    let detail = Detail::System(pb::SystemDetail {
        event: "task.done".to_owned(),
        attributes: [
            ("task_id".to_owned(), task.id.clone()),
            ("title".to_owned(), task.title.clone()),
        ]
        .into(),
    });
    Entry {
        id: new_id(),
        kind: EntryKind::System,
        occurred_at: now,
        links: task.links.clone(),
        conversation_id: None,
        summary: summary_line(&format!("Task done: {}", task.title)),
        body: String::new(),
        author_id: actor.to_owned(),
        detail: Some(detail),
        external_key: Some(format!("task-done:{}", task.id)),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(due: i64, remind: i64) -> Task {
        Task {
            id: "t".into(),
            title: "x".into(),
            task_type: crate::model::TaskType::Todo,
            assignee_id: String::new(),
            due_at: due,
            remind_at: remind,
            reminded_at: Some(5),
            status: TaskStatus::Open,
            links: Links::default(),
            created_by: String::new(),
            created_by_rule: String::new(),
            extension: String::new(),
            dedupe_key: None,
            created_at: 0,
            updated_at: 0,
            closed_at: None,
        }
    }

    #[test]
    fn a_reminder_that_followed_the_due_time_keeps_following_it_and_rearms() {
        let mut t = task(100, 100);
        reschedule(&mut t, Some(200), None);
        assert_eq!((t.due_at, t.remind_at, t.reminded_at), (200, 200, None));
    }

    #[test]
    fn an_explicit_reminder_stays_put_when_only_the_due_time_moves() {
        let mut t = task(100, 50);
        reschedule(&mut t, Some(200), None);
        assert_eq!((t.due_at, t.remind_at, t.reminded_at), (200, 50, Some(5)));
        reschedule(&mut t, None, Some(150));
        assert_eq!((t.remind_at, t.reminded_at), (150, None));
    }
}
