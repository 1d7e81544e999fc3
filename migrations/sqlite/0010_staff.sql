-- The staff service's tables: the people who work in Ringside, the SIP extensions
-- that ring for them, their teams and who leads each team.

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    name             TEXT   NOT NULL,
    -- The email they sign in with; NULL until one is set.
    login            TEXT,
    role             TEXT   NOT NULL,
    alert_email      TEXT   NOT NULL DEFAULT '',
    telegram_chat_id TEXT   NOT NULL DEFAULT '',
    locale           TEXT   NOT NULL DEFAULT '',
    time_zone        TEXT   NOT NULL DEFAULT '',
    active           INTEGER NOT NULL DEFAULT 1,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_login ON users (login) WHERE login IS NOT NULL;
CREATE INDEX users_telegram ON users (telegram_chat_id) WHERE telegram_chat_id <> '';

-- One user per extension; a user may have several.
CREATE TABLE user_extensions (
    extension TEXT PRIMARY KEY,
    user_id   TEXT NOT NULL REFERENCES users (id)
);
CREATE INDEX user_extensions_user ON user_extensions (user_id);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT   NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX teams_name ON teams (name);

-- Who is in a team, and who of them leads it.
CREATE TABLE team_members (
    team_id TEXT   NOT NULL REFERENCES teams (id),
    user_id TEXT   NOT NULL REFERENCES users (id),
    head    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);
