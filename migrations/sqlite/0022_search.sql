-- The "Who is this?" search across deals: a deal's title lower-cased the way Rust
-- does it (SQLite's `lower` knows ASCII only). Deals written before this are filled
-- in by the deals service when it starts. (PostgreSQL also gets trigram indexes;
-- SQLite, for a small office, reads the names.)
ALTER TABLE deals ADD COLUMN title_lower TEXT;

-- The deals still to fill in, so the fill at start reads nothing once they are done
-- (rather than walking every deal to find none).
CREATE INDEX deals_title_unlowered ON deals (id) WHERE title_lower IS NULL;
