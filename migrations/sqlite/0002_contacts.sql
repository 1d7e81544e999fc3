-- The contacts service's tables. Times are Unix milliseconds; ids are UUIDv7 text.

CREATE TABLE companies (
    id         TEXT PRIMARY KEY,
    name       TEXT   NOT NULL,
    name_lower TEXT   NOT NULL,
    owner_id   TEXT   NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE contacts (
    id            TEXT PRIMARY KEY,
    name          TEXT   NOT NULL,
    name_lower    TEXT   NOT NULL,
    company_id    TEXT REFERENCES companies (id),
    owner_id      TEXT   NOT NULL DEFAULT '',
    custom_fields TEXT   NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    deleted_at    INTEGER,
    merged_into   TEXT
);
CREATE INDEX contacts_owner ON contacts (owner_id, id);
CREATE INDEX contacts_company ON contacts (company_id, id);

CREATE TABLE contact_tags (
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    tag        TEXT NOT NULL,
    PRIMARY KEY (contact_id, tag)
);
CREATE INDEX contact_tags_tag ON contact_tags (tag, contact_id);

CREATE TABLE leads (
    id                TEXT PRIMARY KEY,
    name              TEXT   NOT NULL,
    name_lower        TEXT   NOT NULL,
    company_name      TEXT   NOT NULL DEFAULT '',
    source_channel    TEXT   NOT NULL DEFAULT '',
    source_campaign   TEXT   NOT NULL DEFAULT '',
    status            TEXT   NOT NULL,
    owner_id          TEXT   NOT NULL DEFAULT '',
    disqualify_reason TEXT   NOT NULL DEFAULT '',
    contact_id        TEXT REFERENCES contacts (id),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX leads_status ON leads (status, id);
CREATE INDEX leads_owner ON leads (owner_id, id);

-- One row per identity: the primary key is what makes "the same caller never becomes
-- two leads" true under concurrency. An identity belongs to a contact or to a lead.
CREATE TABLE identities (
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    contact_id  TEXT REFERENCES contacts (id),
    lead_id     TEXT REFERENCES leads (id),
    -- Phone digits reversed: "ends with" becomes an index range scan. SQLite compares
    -- text as bytes (BINARY collation), so the range bounds compare as plain ASCII.
    rev_digits  TEXT,
    PRIMARY KEY (kind, value),
    CHECK ((contact_id IS NULL) <> (lead_id IS NULL))
);
CREATE INDEX identities_contact ON identities (contact_id);
CREATE INDEX identities_lead ON identities (lead_id);
CREATE INDEX identities_rev_digits ON identities (rev_digits) WHERE rev_digits IS NOT NULL;
