-- When the deal's next action was last reported (the event's time): an older report
-- that arrives late (a redelivery out of order) does not overwrite a newer one.
ALTER TABLE deals ADD COLUMN next_action_at BIGINT NOT NULL DEFAULT 0;
