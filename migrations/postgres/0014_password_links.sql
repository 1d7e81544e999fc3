-- One-time links to set a password (staff): the first admin's at the first start, and
-- those an admin makes for a new or locked-out person. Only a hash of each link's
-- secret is kept; a user has at most one live link, and using it deletes it.

CREATE TABLE password_links (
    secret_hash TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL UNIQUE REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
