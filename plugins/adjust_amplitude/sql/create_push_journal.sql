-- What pushes did, appended while they run and never changed: one row per acknowledged or refused
-- row (outcome 'sent' or 'rejected'), and a sign of life of each push every few minutes (outcome
-- 'alive', row_key ''). The ledger is brought up to date from it once per push attempt.
CREATE TABLE IF NOT EXISTS {{ t.journal }} (
  row_key STRING NOT NULL,
  outcome STRING NOT NULL,
  sent_at TIMESTAMP,
  http_status INT64,
  attempts INT64,
  reject_reason STRING,
  response_body STRING,
  run_day DATE NOT NULL,
  pushed_by STRING NOT NULL,
  appended_at TIMESTAMP NOT NULL
)
PARTITION BY run_day
CLUSTER BY outcome, row_key
