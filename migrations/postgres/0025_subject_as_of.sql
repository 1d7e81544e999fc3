-- The subjects projection keeps the time of the event it last took each subject's
-- owner and state from: an older event arriving later (the bus does not keep order
-- across producers' retries) changes nothing.
ALTER TABLE activity_subjects ADD COLUMN as_of BIGINT NOT NULL DEFAULT 0;
