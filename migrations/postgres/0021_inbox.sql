-- The inbox: each conversation knows when the client last wrote and when we last
-- answered (so "waiting for an answer" is one indexed flag), and the latest
-- message's first line for the list.

ALTER TABLE activity_conversations ADD COLUMN last_in_at BIGINT;
ALTER TABLE activity_conversations ADD COLUMN last_out_at BIGINT;
ALTER TABLE activity_conversations ADD COLUMN last_direction TEXT NOT NULL DEFAULT '';
ALTER TABLE activity_conversations ADD COLUMN preview TEXT NOT NULL DEFAULT '';
ALTER TABLE activity_conversations ADD COLUMN waiting BIGINT NOT NULL DEFAULT 0;

-- Conversations kept before this: an entry with no author came from the client (an
-- agent's message names its sender).
UPDATE activity_conversations SET
    last_in_at = (SELECT MAX(e.occurred_at) FROM activity_entries e
        WHERE e.conversation_id = activity_conversations.id AND e.author_id = ''),
    last_out_at = (SELECT MAX(e.occurred_at) FROM activity_entries e
        WHERE e.conversation_id = activity_conversations.id AND e.author_id <> '');
UPDATE activity_conversations SET
    waiting = CASE WHEN COALESCE(last_in_at, 0) > COALESCE(last_out_at, 0) THEN 1 ELSE 0 END,
    last_direction = CASE WHEN COALESCE(last_in_at, 0) >= COALESCE(last_out_at, 0)
        THEN 'inbound' ELSE 'outbound' END;

CREATE INDEX activity_conversations_recent ON activity_conversations (last_at, id);
CREATE INDEX activity_conversations_waiting ON activity_conversations (waiting, last_at, id);
