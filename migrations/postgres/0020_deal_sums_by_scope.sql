-- A manager's kanban sums (deals): their teams' deals, and their own and the pool's
-- outside those teams, each summed from an index alone.

CREATE INDEX deals_team_sums ON deals (pipeline_id, team_id, stage_id, currency, amount_minor, owner_id);
CREATE INDEX deals_owner_sums ON deals (pipeline_id, owner_id, stage_id, currency, amount_minor, team_id);
