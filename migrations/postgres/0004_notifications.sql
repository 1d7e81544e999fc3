-- The notifications service's tables: the agents it reaches and their extensions.

CREATE TABLE agents (
    id               TEXT PRIMARY KEY,
    name             TEXT   NOT NULL,
    role             TEXT   NOT NULL,
    team             TEXT   NOT NULL DEFAULT '',
    email            TEXT   NOT NULL DEFAULT '',
    telegram_chat_id TEXT   NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX agents_team ON agents (team, id);

-- One agent per extension; an agent may have several.
CREATE TABLE agent_extensions (
    extension TEXT PRIMARY KEY,
    agent_id  TEXT NOT NULL REFERENCES agents (id)
);
CREATE INDEX agent_extensions_agent ON agent_extensions (agent_id);
