-- Signing people in (staff): password hashes, failed attempts and the lock they lead
-- to, browser sessions (only a hash of each session's secret is kept), and the audit
-- trail, which can be added to and never changed.

CREATE TABLE user_passwords (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    hash       TEXT   NOT NULL,
    changed_at BIGINT NOT NULL
);

CREATE TABLE sign_in_failures (
    user_id      TEXT PRIMARY KEY REFERENCES users (id),
    failures     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    last_at      BIGINT NOT NULL
);

CREATE TABLE sessions (
    secret_hash TEXT PRIMARY KEY,
    user_id     TEXT   NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE audit (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    -- Who did it (a user id, a service's name, or '' for someone not signed in).
    actor   TEXT   NOT NULL,
    action  TEXT   NOT NULL,
    -- What it was done to (a user id, a login's owner), or ''.
    subject TEXT   NOT NULL,
    outcome TEXT   NOT NULL,
    detail  TEXT   NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, id);

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
