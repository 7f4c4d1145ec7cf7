-- Who was told about each report: one row per report day x target x message ('report', or
-- 'alert'). A run claims a row ('sending') before the message goes out and records the outcome
-- ('told' or 'failed', with the attempts and the last error), so a retried task sends only what
-- was not told, and two runs of one day never both send a message.
CREATE TABLE IF NOT EXISTS {{ t.notifications }} (
  report_day DATE NOT NULL,
  target STRING NOT NULL,
  message STRING NOT NULL,
  status STRING NOT NULL,
  run_id STRING,
  claimed_by STRING NOT NULL,
  claimed_at TIMESTAMP NOT NULL,
  attempts INT64 NOT NULL,
  subject STRING,
  error STRING,
  finished_at TIMESTAMP
)
PARTITION BY report_day
