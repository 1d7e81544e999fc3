-- Round-robin lead assignment: when each agent was last given a new lead, as a
-- sequence number (the agent with the lowest, or none, is next).
CREATE TABLE lead_assignees (
    agent_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL
);
