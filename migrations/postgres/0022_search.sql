-- The "Who is this?" search reads `LIKE '%…%'` on names, identities and deal titles.
-- Trigram indexes let PostgreSQL answer a rare pattern from the index instead of
-- reading a million rows (a common one is still found fastest by walking the
-- newest rows, which the planner picks by itself). `pg_trgm` is a trusted
-- extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX contacts_name_trgm ON contacts USING gin (name_lower gin_trgm_ops);
CREATE INDEX leads_name_trgm ON leads USING gin (name_lower gin_trgm_ops);
CREATE INDEX companies_name_trgm ON companies USING gin (name_lower gin_trgm_ops);
CREATE INDEX identities_value_trgm ON identities USING gin (value gin_trgm_ops);

-- A deal's title lower-cased the way Rust does it (every script, whatever the
-- database's locale). Deals written before this are filled in by the deals service
-- when it starts.
ALTER TABLE deals ADD COLUMN title_lower TEXT;
CREATE INDEX deals_title_trgm ON deals USING gin (title_lower gin_trgm_ops);

-- The deals still to fill in, so the fill at start reads nothing once they are done
-- (rather than walking every deal to find none).
CREATE INDEX deals_title_unlowered ON deals (id) WHERE title_lower IS NULL;
