-- A second factor for signing in (staff): a TOTP secret per person who turned it on
-- (the last time step used, so no code is taken twice), a set-up in progress, the
-- one-time recovery codes (only their hashes), and sign-ins waiting for their code
-- (only a hash of each challenge's secret; one made to enrol carries the new secret).

CREATE TABLE user_totp (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    -- base32; NULL while only a set-up is pending.
    secret     TEXT,
    pending    TEXT,
    last_step  BIGINT NOT NULL,
    enabled_at BIGINT
);

CREATE TABLE totp_recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE sign_in_challenges (
    secret_hash TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    -- base32 of the secret to enrol, or NULL for a code of the user's own.
    enrol       TEXT,
    attempts    BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sign_in_challenges_user ON sign_in_challenges (user_id);
