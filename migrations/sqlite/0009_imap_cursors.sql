-- Where ingest stopped reading each IMAP mailbox: the folder's UIDVALIDITY and the
-- last UID filed. The cursor moves only after a message is published.
CREATE TABLE imap_cursors (
    mailbox      TEXT PRIMARY KEY,
    uid_validity INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
