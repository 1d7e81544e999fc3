-- The deals service's tables. Times are Unix milliseconds; ids are UUIDv7 text;
-- flags are 0/1; dates (expected close) are days since 1970-01-01.

CREATE TABLE deal_pipelines (
    id         TEXT PRIMARY KEY,
    name       TEXT   NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
-- At most one default pipeline, however many replicas start at once.
CREATE UNIQUE INDEX deal_pipelines_one_default ON deal_pipelines (is_default) WHERE is_default = 1;

CREATE TABLE deal_stages (
    id          TEXT PRIMARY KEY,
    pipeline_id TEXT   NOT NULL REFERENCES deal_pipelines (id),
    name        TEXT   NOT NULL,
    position    BIGINT NOT NULL,
    -- open, won, lost
    kind        TEXT   NOT NULL,
    probability BIGINT NOT NULL,
    -- 0: no limit
    wip_limit   BIGINT NOT NULL DEFAULT 0,
    wip_refuse  BIGINT NOT NULL DEFAULT 0,
    guidance    TEXT   NOT NULL DEFAULT '',
    UNIQUE (pipeline_id, position)
);

CREATE TABLE deals (
    id               TEXT PRIMARY KEY,
    title            TEXT   NOT NULL,
    pipeline_id      TEXT   NOT NULL REFERENCES deal_pipelines (id),
    stage_id         TEXT   NOT NULL REFERENCES deal_stages (id),
    -- open, won, lost
    status           TEXT   NOT NULL,
    amount_minor     BIGINT NOT NULL,
    currency         TEXT   NOT NULL,
    owner_id         TEXT   NOT NULL DEFAULT '',
    company_id       TEXT,
    close_day        BIGINT,
    source_channel   TEXT   NOT NULL DEFAULT '',
    source_campaign  TEXT   NOT NULL DEFAULT '',
    custom_fields    TEXT   NOT NULL DEFAULT '{}',
    lost_reason      TEXT   NOT NULL DEFAULT '',
    -- The lead this deal was opened from: one deal per conversion.
    lead_id          TEXT UNIQUE,
    next_task_id     TEXT,
    next_task_title  TEXT   NOT NULL DEFAULT '',
    next_due_at      BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    stage_entered_at BIGINT NOT NULL,
    closed_at        BIGINT,
    -- The position of the furthest open stage the deal was ever in: what the funnel
    -- counts (skipping a stage passes it; moving back never un-reaches one).
    reached_position BIGINT NOT NULL DEFAULT 0
);
-- A kanban column, a pipeline list and an owner's list are each one index range.
CREATE INDEX deals_stage ON deals (stage_id, created_at, id);
CREATE INDEX deals_pipeline ON deals (pipeline_id, created_at, id);
CREATE INDEX deals_owner ON deals (owner_id, created_at, id);
-- The kanban's count and sums per stage and currency, read from the index alone.
CREATE INDEX deals_pipeline_sums ON deals (pipeline_id, stage_id, currency, amount_minor);
CREATE INDEX deals_company ON deals (company_id);

CREATE TABLE deal_tags (
    deal_id TEXT NOT NULL REFERENCES deals (id),
    tag     TEXT NOT NULL,
    PRIMARY KEY (deal_id, tag)
);
CREATE INDEX deal_tags_tag ON deal_tags (tag, deal_id);

CREATE TABLE deal_contacts (
    deal_id    TEXT NOT NULL REFERENCES deals (id),
    contact_id TEXT NOT NULL,
    -- decision_maker, economic_buyer, influencer, user, other
    role       TEXT NOT NULL,
    PRIMARY KEY (deal_id, contact_id)
);
CREATE INDEX deal_contacts_contact ON deal_contacts (contact_id, deal_id);

-- Every stay of a deal in a stage, won and lost included: what the funnel is
-- computed from. `left_at` is empty while the deal is still there.
CREATE TABLE deal_stage_history (
    id          TEXT PRIMARY KEY,
    deal_id     TEXT   NOT NULL REFERENCES deals (id),
    stage_id    TEXT   NOT NULL REFERENCES deal_stages (id),
    entered_at  BIGINT NOT NULL,
    left_at     BIGINT,
    moved_by    TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX deal_stage_history_deal ON deal_stage_history (deal_id, entered_at);

CREATE TABLE deal_views (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT   NOT NULL,
    team       TEXT   NOT NULL DEFAULT '',
    name       TEXT   NOT NULL,
    -- The layout, filter and sort as a ringside.deals.v1.View message.
    query      BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX deal_views_owner ON deal_views (owner_id, name);
CREATE INDEX deal_views_team ON deal_views (team, name);
