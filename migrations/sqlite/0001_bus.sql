-- Transactional outbox, idempotent inbox, and the durable queues of the in-process bus.

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT    NOT NULL,
    event_id     TEXT    NOT NULL UNIQUE,
    routing_key  TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    published_at INTEGER
);
CREATE INDEX outbox_unsent ON outbox (source, id) WHERE published_at IS NULL;

CREATE TABLE inbox (
    consumer   TEXT    NOT NULL,
    event_id   TEXT    NOT NULL,
    handled_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE bus_queue (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    queue       TEXT    NOT NULL,
    routing_key TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    enqueued_at INTEGER NOT NULL
);
CREATE INDEX bus_queue_by_queue ON bus_queue (queue, id);

CREATE TABLE bus_dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    queue       TEXT    NOT NULL,
    routing_key TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    attempts    INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    dead_at     INTEGER NOT NULL
);

-- Which queue receives which routing keys (topic patterns), kept like RabbitMQ's
-- durable bindings so nothing published before a consumer starts is dropped.
CREATE TABLE bus_bindings (
    queue   TEXT NOT NULL,
    pattern TEXT NOT NULL,
    PRIMARY KEY (queue, pattern)
);
