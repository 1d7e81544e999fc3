-- Housekeeping: the bus inbox's claims and the alerts sent are kept for a while
-- (a redelivery or a repeated alert comes within minutes), then pruned in batches
-- by age; these indexes make each batch a range scan.
CREATE INDEX inbox_handled_at ON inbox (handled_at);
CREATE INDEX alerts_sent_at ON alerts_sent (sent_at);
