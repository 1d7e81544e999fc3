-- Transactional outbox, idempotent inbox, and the durable queues of the in-process bus.

CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    source       TEXT   NOT NULL,
    event_id     TEXT   NOT NULL UNIQUE,
    routing_key  TEXT   NOT NULL,
    payload      BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL,
    published_at BIGINT
);
-- The relay scans only what is still unsent, in id order, whatever order rows committed in.
CREATE INDEX outbox_unsent ON outbox (source, id) WHERE published_at IS NULL;

CREATE TABLE inbox (
    consumer   TEXT   NOT NULL,
    event_id   TEXT   NOT NULL,
    handled_at BIGINT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE bus_queue (
    id          BIGSERIAL PRIMARY KEY,
    queue       TEXT    NOT NULL,
    routing_key TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    payload     BYTEA   NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    enqueued_at BIGINT  NOT NULL
);
CREATE INDEX bus_queue_by_queue ON bus_queue (queue, id);

CREATE TABLE bus_dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    queue       TEXT    NOT NULL,
    routing_key TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    payload     BYTEA   NOT NULL,
    attempts    INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    dead_at     BIGINT  NOT NULL
);

-- Which queue receives which routing keys (topic patterns), kept like RabbitMQ's
-- durable bindings so nothing published before a consumer starts is dropped.
CREATE TABLE bus_bindings (
    queue   TEXT NOT NULL,
    pattern TEXT NOT NULL,
    PRIMARY KEY (queue, pattern)
);
