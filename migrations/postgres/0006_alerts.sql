-- Alerts sent to agents who were offline: one row per event and channel, so a
-- redelivered event never alerts twice on a channel that already carried it.
CREATE TABLE alerts_sent (
    event_id TEXT   NOT NULL,
    channel  TEXT   NOT NULL,
    agent_id TEXT   NOT NULL,
    sent_at  BIGINT NOT NULL,
    PRIMARY KEY (event_id, channel)
);
