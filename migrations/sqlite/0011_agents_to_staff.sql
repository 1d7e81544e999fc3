-- The agents directory moves from notifications to staff. Every agent becomes an
-- active user with the same id, name, role, extensions and Telegram chat; their email
-- becomes their alert address, and also their login when no other agent shares it;
-- each team name becomes a team of that id and name, with its agents as members.
-- Rows that would clash with users or teams made since are left out.

INSERT INTO teams (id, name, created_at, updated_at)
SELECT team, team, MIN(created_at), MAX(updated_at)
FROM agents WHERE team <> '' GROUP BY team
ON CONFLICT DO NOTHING;

INSERT INTO users (id, name, login, role, alert_email, telegram_chat_id, locale, time_zone,
                   active, created_at, updated_at)
SELECT a.id, a.name,
       CASE WHEN a.email <> ''
             AND (SELECT COUNT(*) FROM agents b WHERE b.email = a.email) = 1
            THEN a.email END,
       a.role, a.email, a.telegram_chat_id, '', '', 1, a.created_at, a.updated_at
FROM agents a
WHERE true -- (SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT)
ON CONFLICT DO NOTHING;

INSERT INTO user_extensions (extension, user_id)
SELECT e.extension, e.agent_id FROM agent_extensions e
WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = e.agent_id)
ON CONFLICT DO NOTHING;

INSERT INTO team_members (team_id, user_id, head)
SELECT a.team, a.id, 0 FROM agents a
WHERE a.team <> ''
  AND EXISTS (SELECT 1 FROM teams t WHERE t.id = a.team)
  AND EXISTS (SELECT 1 FROM users u WHERE u.id = a.id)
ON CONFLICT DO NOTHING;

DROP TABLE agent_extensions;
DROP TABLE agents;
