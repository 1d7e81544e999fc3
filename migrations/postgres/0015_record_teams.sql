-- Record visibility: every lead, contact, company and deal carries the team it was
-- given to, stamped when it is assigned (moving a person to another team moves none
-- of their records). A manager's lists reach their teams' records through the team
-- indexes, an agent's their own through the owner indexes; a scoped kanban column is
-- one range of (owner or team, stage) in date order.

ALTER TABLE deals ADD COLUMN team_id TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN team_id TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN team_id TEXT NOT NULL DEFAULT '';
ALTER TABLE companies ADD COLUMN team_id TEXT NOT NULL DEFAULT '';

-- Records given before teams were stamped take their owner's first team (by id).
UPDATE deals SET team_id = COALESCE((SELECT MIN(m.team_id) FROM team_members m
    WHERE m.user_id = deals.owner_id), '') WHERE owner_id <> '';
UPDATE contacts SET team_id = COALESCE((SELECT MIN(m.team_id) FROM team_members m
    WHERE m.user_id = contacts.owner_id), '') WHERE owner_id <> '';
UPDATE leads SET team_id = COALESCE((SELECT MIN(m.team_id) FROM team_members m
    WHERE m.user_id = leads.owner_id), '') WHERE owner_id <> '';
UPDATE companies SET team_id = COALESCE((SELECT MIN(m.team_id) FROM team_members m
    WHERE m.user_id = companies.owner_id), '') WHERE owner_id <> '';

CREATE INDEX deals_team_stage ON deals (team_id, stage_id, created_at, id);
CREATE INDEX deals_owner_stage ON deals (owner_id, stage_id, created_at, id);
CREATE INDEX contacts_team ON contacts (team_id, id);
CREATE INDEX leads_team ON leads (team_id, id);
CREATE INDEX companies_owner ON companies (owner_id, id);
CREATE INDEX companies_team ON companies (team_id, id);
