-- Signing people in (staff): password hashes, failed attempts and the lock they lead
-- to, browser sessions (only a hash of each session's secret is kept), and the audit
-- trail, which can be added to and never changed.

CREATE TABLE user_passwords (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    hash       TEXT    NOT NULL,
    changed_at INTEGER NOT NULL
);

CREATE TABLE sign_in_failures (
    user_id      TEXT PRIMARY KEY REFERENCES users (id),
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    last_at      INTEGER NOT NULL
);

CREATE TABLE sessions (
    secret_hash TEXT PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    -- Who did it (a user id, a service's name, or '' for someone not signed in).
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    -- What it was done to (a user id, a login's owner), or ''.
    subject TEXT    NOT NULL,
    outcome TEXT    NOT NULL,
    detail  TEXT    NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, id);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
