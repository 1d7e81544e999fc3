-- Notifications' old agents directory, carried over to staff by 0011 and read by
-- nothing since: gone.

DROP TABLE agent_extensions;
DROP TABLE agents;
