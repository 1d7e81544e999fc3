-- Canned answers: the office's ready texts for the inbox's answers (activities).
CREATE TABLE canned_replies (
    id         TEXT PRIMARY KEY,
    title      TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    updated_by TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX canned_replies_title ON canned_replies (title, id);
