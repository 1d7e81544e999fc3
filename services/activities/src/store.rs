//! SQL for the activities service's tables. Every function runs on the connection or
//! transaction it is given, so the service decides what is atomic.

use prost::Message as _;
use ringside_proto::activities::v1 as pb;
use ringside_storage::sql::Where;
use ringside_storage::{AssertSqlSafe, Backend, Row};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::{ActivitiesError, Result};
use crate::model::{
    Conversation, Cursor, Entry, EntryKind, InboxQuery, Links, OwnedBy, Page, Revision, Subject,
    SubjectFilter, SubjectKind, SubjectSummary, Task, TaskFilter, TaskStatus, TaskType,
};

fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

fn links_from_row(row: &AnyRow, with_company: bool) -> Result<Links> {
    Ok(Links {
        contact_id: opt_text(row, "contact_id")?,
        lead_id: opt_text(row, "lead_id")?,
        company_id: match with_company {
            true => opt_text(row, "company_id")?,
            false => None,
        },
        deal_id: match with_company {
            true => opt_text(row, "deal_id")?,
            false => None,
        },
    })
}

/// Adds `(sort, id) < / > cursor` to `w` for keyset pagination. Written as a row
/// value comparison, which both backends turn into an index range (an `a < x OR
/// (a = x AND b < y)` spelling would be a filter over the whole subject).
fn after_cursor(w: &mut Where, sort: &str, id: &str, op: &str, cursor: &Cursor) {
    let at = w.bind(cursor.at);
    let cid = w.bind(cursor.id.clone());
    w.push_plain(&format!("({sort}, {id}) {op} ({at}, {cid})"));
}

// ---------------------------------------------------------------- entries

const ENTRY_COLUMNS: &str = "id, kind, occurred_at, contact_id, lead_id, company_id, deal_id, \
     conversation_id, summary, body, author_id, detail, external_key, created_at, updated_at, \
     deleted_at";

fn encode_detail(detail: &Option<pb::entry::Detail>) -> Option<Vec<u8>> {
    detail.as_ref().map(|d| {
        pb::Entry {
            detail: Some(d.clone()),
            ..Default::default()
        }
        .encode_to_vec()
    })
}

fn entry_from_row(row: &AnyRow) -> Result<Entry> {
    let kind: String = row.try_get("kind")?;
    let detail = match row.try_get::<Option<Vec<u8>>, _>("detail")? {
        Some(bytes) => pb::Entry::decode(bytes.as_slice())?.detail,
        None => None,
    };
    Ok(Entry {
        id: row.try_get("id")?,
        kind: EntryKind::parse(&kind)
            .ok_or_else(|| ActivitiesError::FailedPrecondition(format!("stored kind {kind}")))?,
        occurred_at: row.try_get("occurred_at")?,
        links: links_from_row(row, true)?,
        conversation_id: opt_text(row, "conversation_id")?,
        summary: row.try_get("summary")?,
        body: row.try_get("body")?,
        author_id: row.try_get("author_id")?,
        detail,
        external_key: opt_text(row, "external_key")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// Inserts `e`. Returns `false` (and writes nothing) when an entry with the same
/// external key exists.
pub async fn insert_entry(conn: &mut AnyConnection, e: &Entry) -> Result<bool> {
    let done = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO activity_entries ({ENTRY_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         ON CONFLICT (external_key) DO NOTHING"
    )))
    .bind(&e.id)
    .bind(e.kind.as_str())
    .bind(e.occurred_at)
    .bind(&e.links.contact_id)
    .bind(&e.links.lead_id)
    .bind(&e.links.company_id)
    .bind(&e.links.deal_id)
    .bind(&e.conversation_id)
    .bind(&e.summary)
    .bind(&e.body)
    .bind(&e.author_id)
    .bind(encode_detail(&e.detail))
    .bind(&e.external_key)
    .bind(e.created_at)
    .bind(e.updated_at)
    .bind(e.deleted_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Writes every mutable column of `e` back.
pub async fn update_entry(conn: &mut AnyConnection, e: &Entry) -> Result<()> {
    sqlx::query(
        "UPDATE activity_entries SET occurred_at = $2, contact_id = $3, lead_id = $4, \
         company_id = $5, deal_id = $6, summary = $7, body = $8, detail = $9, \
         updated_at = $10, deleted_at = $11 WHERE id = $1",
    )
    .bind(&e.id)
    .bind(e.occurred_at)
    .bind(&e.links.contact_id)
    .bind(&e.links.lead_id)
    .bind(&e.links.company_id)
    .bind(&e.links.deal_id)
    .bind(&e.summary)
    .bind(&e.body)
    .bind(encode_detail(&e.detail))
    .bind(e.updated_at)
    .bind(e.deleted_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The row of `table` with this id, or `NotFound` naming `kind`.
async fn row_by_id(
    conn: &mut AnyConnection,
    columns: &str,
    table: &str,
    kind: &'static str,
    id: &str,
) -> Result<AnyRow> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT {columns} FROM {table} WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ActivitiesError::not_found(kind, id))
}

pub async fn get_entry(conn: &mut AnyConnection, id: &str) -> Result<Entry> {
    entry_from_row(&row_by_id(conn, ENTRY_COLUMNS, "activity_entries", "entry", id).await?)
}

/// The entry made by `key` (`call:<id>`, `msg:<channel>:<id>`, ...), if any.
pub async fn entry_by_key(conn: &mut AnyConnection, key: &str) -> Result<Option<Entry>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM activity_entries WHERE external_key = $1"
    )))
    .bind(key)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(entry_from_row).transpose()
}

/// The entry made by `key`, locked for the rest of the transaction: a read-modify-write
/// of an entry (a call event, a call note, an edit) never overwrites another one's
/// change. (A no-op UPDATE takes PostgreSQL's row lock; SQLite's write transaction
/// already excludes other writers.)
pub async fn entry_by_key_for_update(conn: &mut AnyConnection, key: &str) -> Result<Option<Entry>> {
    sqlx::query("UPDATE activity_entries SET updated_at = updated_at WHERE external_key = $1")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    entry_by_key(conn, key).await
}

/// The entry `id`, locked like [`entry_by_key_for_update`].
pub async fn get_entry_for_update(conn: &mut AnyConnection, id: &str) -> Result<Entry> {
    sqlx::query("UPDATE activity_entries SET updated_at = updated_at WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    get_entry(conn, id).await
}

/// One page of a subject's timeline, newest first, with one look-ahead row.
pub async fn timeline(
    conn: &mut AnyConnection,
    subject: &Subject,
    kinds: &[EntryKind],
    conversation_id: Option<&str>,
    page: &Page,
) -> Result<Vec<Entry>> {
    let mut w = Where::default();
    w.push(&format!("{} = {{}}", subject.column()), subject.id());
    w.push_plain("deleted_at IS NULL");
    if !kinds.is_empty() && kinds.len() < EntryKind::ALL.len() {
        let list: Vec<String> = kinds.iter().map(|k| w.bind(k.as_str())).collect();
        w.push_plain(&format!("kind IN ({})", list.join(", ")));
    }
    if let Some(conversation) = conversation_id {
        w.push("conversation_id = {}", conversation);
    }
    if let Some(cursor) = &page.after {
        after_cursor(&mut w, "occurred_at", "id", "<", cursor);
    }
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM activity_entries WHERE {} \
         ORDER BY occurred_at DESC, id DESC LIMIT {}",
        w.sql(),
        page.size + 1
    );
    let rows = w.query(sql).fetch_all(conn).await?;
    rows.iter().map(entry_from_row).collect()
}

/// Moves every entry, task and conversation linked to `from` onto `to` (a merge).
pub async fn relink(conn: &mut AnyConnection, column: &str, from: &str, to: &str) -> Result<()> {
    for table in [
        "activity_entries",
        "activity_tasks",
        "activity_conversations",
    ] {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET {column} = $2 WHERE {column} = $1"
        )))
        .bind(from)
        .bind(to)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Adds `contact` (and `company`) to everything linked to lead `lead` that has no
/// contact yet: a converted lead's history shows on its contact's timeline.
pub async fn adopt_lead(
    conn: &mut AnyConnection,
    lead: &str,
    contact: &str,
    company: Option<&str>,
) -> Result<()> {
    for table in ["activity_entries", "activity_conversations"] {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {table} SET contact_id = $2, company_id = COALESCE(company_id, $3) \
             WHERE lead_id = $1 AND contact_id IS NULL"
        )))
        .bind(lead)
        .bind(contact)
        .bind(company)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "UPDATE activity_tasks SET contact_id = $2 WHERE lead_id = $1 AND contact_id IS NULL",
    )
    .bind(lead)
    .bind(contact)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- revisions

pub async fn insert_revision(conn: &mut AnyConnection, entry_id: &str, r: &Revision) -> Result<()> {
    sqlx::query(
        "INSERT INTO activity_revisions (entry_id, revision, body, edited_by, edited_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(entry_id)
    .bind(r.revision)
    .bind(&r.body)
    .bind(&r.edited_by)
    .bind(r.edited_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// An entry's earlier texts, oldest first.
pub async fn revisions(conn: &mut AnyConnection, entry_id: &str) -> Result<Vec<Revision>> {
    let rows = sqlx::query(
        "SELECT revision, body, edited_by, edited_at FROM activity_revisions \
         WHERE entry_id = $1 ORDER BY revision",
    )
    .bind(entry_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Revision {
                revision: row.try_get("revision")?,
                body: row.try_get("body")?,
                edited_by: row.try_get("edited_by")?,
                edited_at: row.try_get("edited_at")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- conversations

fn conversation_from_row(row: &AnyRow) -> Result<Conversation> {
    Ok(Conversation {
        id: row.try_get("id")?,
        channel: row.try_get("channel")?,
        thread_key: row.try_get("thread_key")?,
        subject: row.try_get("subject")?,
        links: Links {
            company_id: opt_text(row, "company_id")?,
            ..links_from_row(row, false)?
        },
        started_at: row.try_get("started_at")?,
        last_at: row.try_get("last_at")?,
        entries: row.try_get("entries")?,
        owner_id: row.try_get("owner_id")?,
        waiting: row.try_get::<i64, _>("waiting")? != 0,
        last_direction: row.try_get("last_direction")?,
        preview: row.try_get("preview")?,
    })
}

/// Conversations with their client's owner: the contact's when there is one (a
/// converted lead's conversations are the contact's), else the lead's.
const CONVERSATIONS: &str = "SELECT c.*, COALESCE(sc.owner_id, sl.owner_id, '') AS owner_id \
     FROM activity_conversations c \
     LEFT JOIN activity_subjects sc ON sc.kind = 'contact' AND sc.id = c.contact_id \
     LEFT JOIN activity_subjects sl ON sl.kind = 'lead' AND sl.id = c.lead_id";
const CONVERSATION_OWNER: &str = "COALESCE(sc.owner_id, sl.owner_id, '')";

pub async fn get_conversation(conn: &mut AnyConnection, id: &str) -> Result<Option<Conversation>> {
    let row = sqlx::query(AssertSqlSafe(format!("{CONVERSATIONS} WHERE c.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(conversation_from_row).transpose()
}

/// One page of the inbox, latest first: conversations whose client is owned by
/// someone in `visible` (or nobody; `None`: everyone), narrowed by `query`.
pub async fn list_inbox(
    conn: &mut AnyConnection,
    visible: Option<&[String]>,
    owned_by: Option<&OwnedBy>,
    query: &InboxQuery,
    page: &Page,
) -> Result<Vec<Conversation>> {
    let mut w = Where::default();
    // A deleted or merged-away contact's conversations wait for nobody (a lead's stay,
    // converted or disqualified: a disqualified lead may write again).
    w.push_plain("COALESCE(sc.active, 1) = 1");
    if let Some(people) = visible {
        among(&mut w, CONVERSATION_OWNER, people, true);
    }
    if let Some(owned) = owned_by {
        among(&mut w, CONVERSATION_OWNER, &owned.people, owned.nobody);
    }
    if query.waiting {
        w.push_plain("c.waiting = 1");
    }
    if let Some(channel) = &query.channel {
        w.push("c.channel = {}", channel.clone());
    }
    if let Some(cursor) = &page.after {
        after_cursor(&mut w, "c.last_at", "c.id", "<", cursor);
    }
    let sql = format!(
        "{CONVERSATIONS} WHERE {} ORDER BY c.last_at DESC, c.id DESC LIMIT {}",
        w.sql(),
        page.size + 1
    );
    let rows = w.query(sql).fetch_all(conn).await?;
    rows.iter().map(conversation_from_row).collect()
}

pub async fn conversation_by_thread(
    conn: &mut AnyConnection,
    channel: &str,
    thread_key: &str,
) -> Result<Option<Conversation>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{CONVERSATIONS} WHERE c.channel = $1 AND c.thread_key = $2"
    )))
    .bind(channel)
    .bind(thread_key)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(conversation_from_row).transpose()
}

/// The conversation of the first of `keys` (entry external keys) that has one.
pub async fn conversation_of_entries(
    conn: &mut AnyConnection,
    keys: &[String],
) -> Result<Option<String>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let mut w = Where::default();
    let list: Vec<String> = keys.iter().map(|k| w.bind(k.clone())).collect();
    w.push_plain(&format!("external_key IN ({})", list.join(", ")));
    w.push_plain("conversation_id IS NOT NULL");
    let sql = format!(
        "SELECT conversation_id FROM activity_entries WHERE {} ORDER BY occurred_at LIMIT 1",
        w.sql()
    );
    let row = w.query(sql).fetch_optional(conn).await?;
    Ok(row.map(|r| r.try_get("conversation_id")).transpose()?)
}

pub async fn insert_conversation(conn: &mut AnyConnection, c: &Conversation) -> Result<()> {
    sqlx::query(
        "INSERT INTO activity_conversations (id, channel, thread_key, subject, contact_id, \
         lead_id, company_id, started_at, last_at, entries) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&c.id)
    .bind(&c.channel)
    .bind(&c.thread_key)
    .bind(&c.subject)
    .bind(&c.links.contact_id)
    .bind(&c.links.lead_id)
    .bind(&c.links.company_id)
    .bind(c.started_at)
    .bind(c.last_at)
    .bind(c.entries)
    .execute(conn)
    .await?;
    Ok(())
}

/// A message landing in a conversation.
pub struct Touch<'a> {
    pub at: i64,
    pub links: &'a Links,
    pub inbound: bool,
    /// An auto-reply or a bounce: it neither asks nor answers.
    pub automatic: bool,
    pub preview: &'a str,
}

/// Counts one more message in conversation `id`, fills its links if empty, and
/// keeps who wrote last by the messages' own times (events may come out of order):
/// it waits for an answer while the client's latest is newer than ours.
pub async fn touch_conversation(conn: &mut AnyConnection, id: &str, t: &Touch<'_>) -> Result<()> {
    let direction = if t.inbound { "inbound" } else { "outbound" };
    // The side the message is on, unless it is automatic; one of two column names,
    // never input.
    let waits = match (t.automatic, t.inbound) {
        (true, _) => String::new(),
        (false, inbound) => {
            let side = if inbound { "last_in_at" } else { "last_out_at" };
            format!("{side} = CASE WHEN COALESCE({side}, 0) < $2 THEN $2 ELSE {side} END, ")
        }
    };
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE activity_conversations SET entries = entries + 1, \
         preview = CASE WHEN last_at <= $2 THEN $6 ELSE preview END, \
         last_direction = CASE WHEN last_at <= $2 THEN $7 ELSE last_direction END, \
         last_at = CASE WHEN last_at < $2 THEN $2 ELSE last_at END, {waits}\
         contact_id = COALESCE(contact_id, $3), lead_id = COALESCE(lead_id, $4), \
         company_id = COALESCE(company_id, $5) WHERE id = $1"
    )))
    .bind(id)
    .bind(t.at)
    .bind(&t.links.contact_id)
    .bind(&t.links.lead_id)
    .bind(&t.links.company_id)
    .bind(t.preview)
    .bind(direction)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE activity_conversations SET waiting = CASE \
         WHEN COALESCE(last_in_at, 0) > COALESCE(last_out_at, 0) THEN 1 ELSE 0 END WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Lead `lead_id`'s conversations stop waiting: what the client wrote so far counts
/// as answered.
pub async fn stop_waiting(conn: &mut AnyConnection, lead_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE activity_conversations SET last_out_at = last_in_at, waiting = 0 \
         WHERE lead_id = $1 AND contact_id IS NULL AND waiting = 1",
    )
    .bind(lead_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn list_conversations(
    conn: &mut AnyConnection,
    subject: &Subject,
    page: &Page,
) -> Result<Vec<Conversation>> {
    let mut w = Where::default();
    w.push(&format!("c.{} = {{}}", subject.column()), subject.id());
    if let Some(cursor) = &page.after {
        after_cursor(&mut w, "c.last_at", "c.id", "<", cursor);
    }
    let sql = format!(
        "{CONVERSATIONS} WHERE {} ORDER BY c.last_at DESC, c.id DESC LIMIT {}",
        w.sql(),
        page.size + 1
    );
    let rows = w.query(sql).fetch_all(conn).await?;
    rows.iter().map(conversation_from_row).collect()
}

// ---------------------------------------------------------------- tasks

const TASK_COLUMNS: &str = "id, title, task_type, assignee_id, due_at, remind_at, reminded_at, \
     status, contact_id, lead_id, deal_id, created_by, created_by_rule, extension, dedupe_key, \
     created_at, updated_at, closed_at";

fn task_from_row(row: &AnyRow) -> Result<Task> {
    let task_type: String = row.try_get("task_type")?;
    let status: String = row.try_get("status")?;
    let stored = |what: &str| ActivitiesError::FailedPrecondition(format!("stored {what}"));
    Ok(Task {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        task_type: TaskType::parse(&task_type).ok_or_else(|| stored("task type"))?,
        assignee_id: row.try_get("assignee_id")?,
        due_at: row.try_get("due_at")?,
        remind_at: row.try_get("remind_at")?,
        reminded_at: row.try_get("reminded_at")?,
        status: TaskStatus::parse(&status).ok_or_else(|| stored("task status"))?,
        links: Links {
            deal_id: opt_text(row, "deal_id")?,
            ..links_from_row(row, false)?
        },
        created_by: row.try_get("created_by")?,
        created_by_rule: row.try_get("created_by_rule")?,
        extension: row.try_get("extension")?,
        dedupe_key: opt_text(row, "dedupe_key")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

/// Inserts `t`. Returns `false` (and writes nothing) when an open task with the same
/// dedupe key exists: a rule opens one such task however many replicas race.
pub async fn insert_task(conn: &mut AnyConnection, t: &Task) -> Result<bool> {
    let done = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO activity_tasks ({TASK_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (dedupe_key) WHERE status = 'open' DO NOTHING"
    )))
    .bind(&t.id)
    .bind(&t.title)
    .bind(t.task_type.as_str())
    .bind(&t.assignee_id)
    .bind(t.due_at)
    .bind(t.remind_at)
    .bind(t.reminded_at)
    .bind(t.status.as_str())
    .bind(&t.links.contact_id)
    .bind(&t.links.lead_id)
    .bind(&t.links.deal_id)
    .bind(&t.created_by)
    .bind(&t.created_by_rule)
    .bind(&t.extension)
    .bind(&t.dedupe_key)
    .bind(t.created_at)
    .bind(t.updated_at)
    .bind(t.closed_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn update_task(conn: &mut AnyConnection, t: &Task) -> Result<()> {
    sqlx::query(
        "UPDATE activity_tasks SET title = $2, task_type = $3, assignee_id = $4, due_at = $5, \
         remind_at = $6, reminded_at = $7, status = $8, updated_at = $9, closed_at = $10 \
         WHERE id = $1",
    )
    .bind(&t.id)
    .bind(&t.title)
    .bind(t.task_type.as_str())
    .bind(&t.assignee_id)
    .bind(t.due_at)
    .bind(t.remind_at)
    .bind(t.reminded_at)
    .bind(t.status.as_str())
    .bind(t.updated_at)
    .bind(t.closed_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get_task(conn: &mut AnyConnection, id: &str) -> Result<Task> {
    task_from_row(&row_by_id(conn, TASK_COLUMNS, "activity_tasks", "task", id).await?)
}

/// Only rows whose `column` names one of `people`, or nobody (the pool) with
/// `or_nobody`.
fn among(w: &mut Where, column: &str, people: &[String], or_nobody: bool) {
    let mut names: Vec<String> = people.iter().map(|p| w.bind(p)).collect();
    if or_nobody {
        names.push("''".to_owned());
    }
    match names.is_empty() {
        true => w.push_plain("FALSE"),
        false => w.push_plain(&format!("{column} IN ({})", names.join(", "))),
    }
}

/// One page of tasks under `filter`, earliest due first, with one look-ahead row.
pub async fn list_tasks(
    conn: &mut AnyConnection,
    filter: &TaskFilter,
    now: i64,
    page: &Page,
) -> Result<Vec<Task>> {
    let mut w = Where::default();
    w.push(
        "status = {}",
        filter.status.unwrap_or(TaskStatus::Open).as_str(),
    );
    if let Some(assignee) = &filter.assignee_id {
        w.push("assignee_id = {}", assignee);
    }
    if filter.unassigned_only {
        w.push_plain("assignee_id = ''");
    }
    if filter.overdue_only {
        w.push("due_at < {}", now);
    }
    if let Some(from) = filter.due_from {
        w.push("due_at >= {}", from);
    }
    if let Some(to) = filter.due_to {
        w.push("due_at < {}", to);
    }
    if let Some(subject) = &filter.subject {
        w.push(&format!("{} = {{}}", subject.column()), subject.id());
    }
    if let Some(people) = &filter.people {
        among(&mut w, "assignee_id", people, true);
    }
    if let Some(cursor) = &page.after {
        after_cursor(&mut w, "due_at", "id", ">", cursor);
    }
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM activity_tasks WHERE {} ORDER BY due_at, id LIMIT {}",
        w.sql(),
        page.size + 1
    );
    let rows = w.query(sql).fetch_all(conn).await?;
    rows.iter().map(task_from_row).collect()
}

/// The earliest open task of a contact, lead or deal.
pub async fn next_open_task(
    conn: &mut AnyConnection,
    kind: SubjectKind,
    id: &str,
) -> Result<Option<Task>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM activity_tasks WHERE {} = $1 AND status = 'open' \
         ORDER BY due_at, id LIMIT 1",
        kind.column()
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(task_from_row).transpose()
}

/// Whether the subject has an open task of `task_type`.
pub async fn has_open_task(
    conn: &mut AnyConnection,
    kind: SubjectKind,
    id: &str,
    task_type: TaskType,
) -> Result<bool> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT id FROM activity_tasks WHERE {} = $1 AND status = 'open' AND task_type = $2 \
         LIMIT 1",
        kind.column()
    )))
    .bind(id)
    .bind(task_type.as_str())
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// Open tasks whose reminder time has come and not yet gone out, oldest first. On
/// PostgreSQL the rows stay locked until the transaction ends and other replicas skip
/// them; on SQLite the write transaction already excludes every other writer.
pub async fn due_reminders(
    conn: &mut AnyConnection,
    backend: Backend,
    now: i64,
    limit: i64,
) -> Result<Vec<Task>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM activity_tasks \
         WHERE status = 'open' AND reminded_at IS NULL AND remind_at <= $1 \
         ORDER BY remind_at LIMIT {limit}{lock}"
    )))
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter().map(task_from_row).collect()
}

/// The earliest pending reminder time, if any.
pub async fn next_reminder_at(conn: &mut AnyConnection) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(remind_at) AS at FROM activity_tasks \
         WHERE status = 'open' AND reminded_at IS NULL",
    )
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<Option<i64>, _>("at")?)
}

// ---------------------------------------------------------------- subjects

/// Records a contact, lead or deal (or updates its owner and whether it is active)
/// as an event at `as_of` (ms) says it — unless a later event said otherwise
/// already: events may come out of order. Whether it changed anything.
pub async fn upsert_subject(
    conn: &mut AnyConnection,
    kind: SubjectKind,
    id: &str,
    owner_id: Option<&str>,
    active: bool,
    as_of: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO activity_subjects (kind, id, owner_id, active, as_of) \
         VALUES ($1, $2, $3, $4, $6) \
         ON CONFLICT (kind, id) DO UPDATE SET \
         owner_id = COALESCE($5, activity_subjects.owner_id), active = $4, as_of = $6 \
         WHERE activity_subjects.as_of <= $6",
    )
    .bind(kind.as_str())
    .bind(id)
    .bind(owner_id.unwrap_or(""))
    .bind(i64::from(active))
    .bind(owner_id)
    .bind(as_of)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The subject's owner as known here (`None`: not known yet).
pub async fn subject_owner(
    conn: &mut AnyConnection,
    kind: SubjectKind,
    id: &str,
) -> Result<Option<String>> {
    let row = sqlx::query("SELECT owner_id FROM activity_subjects WHERE kind = $1 AND id = $2")
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.try_get("owner_id")).transpose()?)
}

/// The latest `limit` conversations with a contact or a lead, with their owner.
pub async fn conversations_of(
    conn: &mut AnyConnection,
    kind: SubjectKind,
    id: &str,
    limit: i64,
) -> Result<Vec<Conversation>> {
    // One of two column names, never input.
    let column = match kind {
        SubjectKind::Lead => "c.lead_id",
        _ => "c.contact_id",
    };
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{CONVERSATIONS} WHERE {column} = $1 ORDER BY c.last_at DESC LIMIT $2"
    )))
    .bind(id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(conversation_from_row).collect()
}

/// Whether the subject is known here.
pub async fn subject_known(conn: &mut AnyConnection, kind: SubjectKind, id: &str) -> Result<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM activity_subjects WHERE kind = $1 AND id = $2")
        .bind(kind.as_str())
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// Sets the subject's next action; returns the one it had before (task id, due time).
pub async fn set_next_action(
    conn: &mut AnyConnection,
    kind: SubjectKind,
    id: &str,
    next: Option<&Task>,
) -> Result<Option<(String, i64)>> {
    let before = sqlx::query(
        "SELECT next_task_id, next_due_at FROM activity_subjects WHERE kind = $1 AND id = $2",
    )
    .bind(kind.as_str())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if before.is_none() {
        upsert_subject(conn, kind, id, None, true, 0).await?;
    }
    sqlx::query(
        "UPDATE activity_subjects SET next_task_id = $3, next_due_at = $4 \
         WHERE kind = $1 AND id = $2",
    )
    .bind(kind.as_str())
    .bind(id)
    .bind(next.map(|t| t.id.clone()))
    .bind(next.map(|t| t.due_at))
    .execute(conn)
    .await?;
    let Some(row) = before else { return Ok(None) };
    let task: Option<String> = row.try_get("next_task_id")?;
    let due: Option<i64> = row.try_get("next_due_at")?;
    Ok(task.zip(due))
}

/// One page of active subjects under `filter`, with one look-ahead row.
pub async fn list_subjects(
    conn: &mut AnyConnection,
    kind: SubjectKind,
    filter: SubjectFilter,
    owner_id: Option<&str>,
    people: Option<&[String]>,
    now: i64,
    page: &Page,
) -> Result<Vec<SubjectSummary>> {
    let mut w = Where::default();
    w.push("s.kind = {}", kind.as_str());
    w.push_plain("s.active = 1");
    if let Some(owner) = owner_id {
        w.push("s.owner_id = {}", owner);
    }
    if let Some(people) = people {
        among(&mut w, "s.owner_id", people, true);
    }
    let order = match filter {
        SubjectFilter::NoOpenTask => {
            w.push_plain("s.next_due_at IS NULL");
            if let Some(cursor) = &page.after {
                w.push("s.id > {}", cursor.id.clone());
            }
            "s.id"
        }
        SubjectFilter::Overdue => {
            w.push("s.next_due_at < {}", now);
            if let Some(cursor) = &page.after {
                after_cursor(&mut w, "s.next_due_at", "s.id", ">", cursor);
            }
            "s.next_due_at, s.id"
        }
    };
    let sql = format!(
        "SELECT s.kind, s.id AS subject_id, s.owner_id AS subject_owner, t.* \
         FROM activity_subjects s LEFT JOIN activity_tasks t ON t.id = s.next_task_id \
         WHERE {} ORDER BY {order} LIMIT {}",
        w.sql(),
        page.size + 1
    );
    let rows = w.query(sql).fetch_all(conn).await?;
    rows.iter()
        .map(|row| {
            let next_action = match opt_text(row, "id")? {
                Some(_) => Some(task_from_row(row)?),
                None => None,
            };
            Ok(SubjectSummary {
                kind,
                id: row.try_get("subject_id")?,
                owner_id: row.try_get("subject_owner")?,
                next_action,
            })
        })
        .collect()
}
