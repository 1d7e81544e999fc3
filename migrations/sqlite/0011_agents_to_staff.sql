-- The agents directory moves from notifications to staff. Every agent becomes an
-- active user with the same id, name, extensions and Telegram chat; their email
-- becomes their alert address, and also their login when no other agent or user has
-- it. Roles were writable by any agent before permissions existed, so an imported
-- admin becomes an agent (an admin grants it again in staff); managers and agents
-- keep theirs. Each team name becomes a team of that name, its id the name when the
-- name is a usable id (so RINGSIDE_ASSIGN_TEAM keeps working), else a new one. Rows
-- that would clash with users or teams made since are left out. The old tables stay
-- until a later release, for replicas of the previous version still running.

INSERT INTO teams (id, name, created_at, updated_at)
SELECT CASE WHEN length(team) <= 64 AND team NOT LIKE '% %' THEN team ELSE lower(hex(randomblob(16))) END,
       team, MIN(created_at), MAX(updated_at)
FROM agents WHERE team <> '' GROUP BY team
ON CONFLICT DO NOTHING;

INSERT INTO users (id, name, login, role, alert_email, telegram_chat_id, locale, time_zone,
                   active, created_at, updated_at)
SELECT a.id, a.name,
       CASE WHEN a.email <> ''
             AND (SELECT COUNT(*) FROM agents b WHERE b.email = a.email) = 1
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.login = a.email)
            THEN a.email END,
       CASE WHEN a.role = 'manager' THEN 'manager' ELSE 'agent' END,
       a.email, a.telegram_chat_id, '', '', 1, a.created_at, a.updated_at
FROM agents a
WHERE true -- (SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT)
ON CONFLICT DO NOTHING;

INSERT INTO user_extensions (extension, user_id)
SELECT e.extension, e.agent_id FROM agent_extensions e
WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = e.agent_id)
ON CONFLICT DO NOTHING;

INSERT INTO team_members (team_id, user_id, head)
SELECT t.id, a.id, 0 FROM agents a JOIN teams t ON t.name = a.team
WHERE a.team <> '' AND EXISTS (SELECT 1 FROM users u WHERE u.id = a.id)
ON CONFLICT DO NOTHING;
