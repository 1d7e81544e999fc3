-- Personal API tokens (staff): named, with an expiry, revocable; only a hash of each
-- token's secret is kept. A program exchanges its token for access tokens of minutes,
-- which carry the owner's role at the time of the exchange.

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, id);
