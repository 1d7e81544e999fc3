-- Single sign-on through an OpenID Connect provider (staff): the sign-ins sent to the
-- provider and not back yet (only a hash of each one's state; its PKCE verifier and
-- nonce for ten minutes), and which account at which provider is which user.

CREATE TABLE provider_flows (
    state_hash    TEXT PRIMARY KEY,
    pkce_verifier TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX provider_flows_expiry ON provider_flows (expires_at);

CREATE TABLE user_identities (
    issuer    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    user_id   TEXT NOT NULL REFERENCES users (id),
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);
