-- Where ingest stopped reading each IMAP mailbox: the folder's UIDVALIDITY and the
-- last UID filed. The cursor moves only after a message is published.
CREATE TABLE imap_cursors (
    mailbox      TEXT PRIMARY KEY,
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
