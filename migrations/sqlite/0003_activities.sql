-- The activities service's tables. Times are Unix milliseconds; ids are UUIDv7 text.

-- Entries of one external thread (an email thread, a Telegram chat).
CREATE TABLE activity_conversations (
    id          TEXT PRIMARY KEY,
    channel     TEXT   NOT NULL,
    thread_key  TEXT   NOT NULL,
    subject     TEXT   NOT NULL DEFAULT '',
    contact_id  TEXT,
    lead_id     TEXT,
    company_id  TEXT,
    started_at  INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    entries     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (channel, thread_key)
);
CREATE INDEX activity_conversations_contact ON activity_conversations (contact_id, last_at, id);
CREATE INDEX activity_conversations_lead ON activity_conversations (lead_id, last_at, id);
CREATE INDEX activity_conversations_company ON activity_conversations (company_id, last_at, id);

-- The timeline. Each entry links to any of a contact, a lead, a company and a deal;
-- a timeline is one index range scan on (link, occurred_at, id).
CREATE TABLE activity_entries (
    id              TEXT PRIMARY KEY,
    kind            TEXT   NOT NULL,
    occurred_at     INTEGER NOT NULL,
    contact_id      TEXT,
    lead_id         TEXT,
    company_id      TEXT,
    deal_id         TEXT,
    conversation_id TEXT REFERENCES activity_conversations (id),
    summary         TEXT   NOT NULL,
    body            TEXT   NOT NULL DEFAULT '',
    author_id       TEXT   NOT NULL DEFAULT '',
    -- The kind's detail (call, message, form, system) as its protobuf message.
    detail          BLOB,
    -- What made the entry, so a redelivered or repeated fact finds it:
    -- "call:<call id>", "msg:<channel>:<external id>", "form:<id>", "event:<event id>".
    external_key    TEXT UNIQUE,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted_at      INTEGER
);
CREATE INDEX activity_entries_contact ON activity_entries (contact_id, occurred_at, id);
CREATE INDEX activity_entries_lead ON activity_entries (lead_id, occurred_at, id);
CREATE INDEX activity_entries_company ON activity_entries (company_id, occurred_at, id);
CREATE INDEX activity_entries_deal ON activity_entries (deal_id, occurred_at, id);
CREATE INDEX activity_entries_conversation ON activity_entries (conversation_id, occurred_at, id);

-- Earlier texts of edited notes and messages.
CREATE TABLE activity_revisions (
    entry_id  TEXT   NOT NULL REFERENCES activity_entries (id),
    revision  INTEGER NOT NULL,
    body      TEXT   NOT NULL,
    edited_by TEXT   NOT NULL,
    edited_at INTEGER NOT NULL,
    PRIMARY KEY (entry_id, revision)
);

CREATE TABLE activity_tasks (
    id              TEXT PRIMARY KEY,
    title           TEXT   NOT NULL,
    task_type       TEXT   NOT NULL,
    assignee_id     TEXT   NOT NULL DEFAULT '',
    due_at          INTEGER NOT NULL,
    remind_at       INTEGER NOT NULL,
    reminded_at     INTEGER,
    status          TEXT   NOT NULL,
    contact_id      TEXT,
    lead_id         TEXT,
    deal_id         TEXT,
    created_by      TEXT   NOT NULL DEFAULT '',
    created_by_rule TEXT   NOT NULL DEFAULT '',
    extension       TEXT   NOT NULL DEFAULT '',
    -- Rules set this so two replicas cannot open the same task twice.
    dedupe_key      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    closed_at       INTEGER
);
CREATE INDEX activity_tasks_assignee ON activity_tasks (assignee_id, status, due_at, id);
CREATE INDEX activity_tasks_due ON activity_tasks (status, due_at, id);
CREATE INDEX activity_tasks_contact ON activity_tasks (contact_id, status, due_at, id);
CREATE INDEX activity_tasks_lead ON activity_tasks (lead_id, status, due_at, id);
CREATE INDEX activity_tasks_deal ON activity_tasks (deal_id, status, due_at, id);
CREATE INDEX activity_tasks_reminders ON activity_tasks (remind_at)
    WHERE status = 'open' AND reminded_at IS NULL;
CREATE UNIQUE INDEX activity_tasks_dedupe ON activity_tasks (dedupe_key)
    WHERE status = 'open';

-- Contacts, leads and deals as activities learns them from their events, each with
-- its next action (earliest open task): "no open task" and "overdue" are one
-- indexed query. `active` is 0 once a contact is deleted or merged, a lead is
-- converted or disqualified.
CREATE TABLE activity_subjects (
    kind         TEXT   NOT NULL,
    id           TEXT   NOT NULL,
    owner_id     TEXT   NOT NULL DEFAULT '',
    active       INTEGER NOT NULL DEFAULT 1,
    next_task_id TEXT,
    next_due_at  INTEGER,
    PRIMARY KEY (kind, id)
);
CREATE INDEX activity_subjects_next ON activity_subjects (kind, active, next_due_at, id);
