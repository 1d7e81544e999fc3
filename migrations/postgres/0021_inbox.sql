-- The inbox: each conversation knows when the client last wrote and when we last
-- answered (so "waiting for an answer" is one indexed flag), and the latest
-- message's first line for the list.

ALTER TABLE activity_conversations ADD COLUMN last_in_at BIGINT;
ALTER TABLE activity_conversations ADD COLUMN last_out_at BIGINT;
ALTER TABLE activity_conversations ADD COLUMN last_direction TEXT NOT NULL DEFAULT '';
ALTER TABLE activity_conversations ADD COLUMN preview TEXT NOT NULL DEFAULT '';
ALTER TABLE activity_conversations ADD COLUMN waiting BIGINT NOT NULL DEFAULT 0;

-- Conversations kept before this: an entry with no author came from the client (an
-- agent's message names its sender; automatic messages, which name none either, are
-- counted as the client's: older rows do not say). The latest entry's text begins
-- the preview.
UPDATE activity_conversations SET
    last_in_at = (SELECT MAX(e.occurred_at) FROM activity_entries e
        WHERE e.conversation_id = activity_conversations.id AND e.author_id = ''
          AND e.deleted_at IS NULL),
    last_out_at = (SELECT MAX(e.occurred_at) FROM activity_entries e
        WHERE e.conversation_id = activity_conversations.id AND e.author_id <> ''
          AND e.deleted_at IS NULL),
    preview = COALESCE((SELECT CASE WHEN e.body <> '' THEN SUBSTR(e.body, 1, 200)
            ELSE e.summary END FROM activity_entries e
        WHERE e.conversation_id = activity_conversations.id AND e.deleted_at IS NULL
        ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1), '');
UPDATE activity_conversations SET
    waiting = CASE WHEN COALESCE(last_in_at, 0) > COALESCE(last_out_at, 0) THEN 1 ELSE 0 END,
    last_direction = CASE WHEN COALESCE(last_in_at, 0) >= COALESCE(last_out_at, 0)
        THEN 'inbound' ELSE 'outbound' END;

CREATE INDEX activity_conversations_recent ON activity_conversations (last_at, id);
CREATE INDEX activity_conversations_waiting ON activity_conversations (waiting, last_at, id);
