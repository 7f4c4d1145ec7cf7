-- One record per processed day: what its latest run saw and did. Counts are those
-- attributed to the day (read, matched, closed, sent by its run), so a re-run writes the same;
-- run_id, dry_run, outbox_events, push_*, the warehouse figures and finished_at describe the latest
-- run. warehouse_jobs and bytes_billed (BigQuery's job statistics; NULL on DuckDB) count the steps up
-- to this record; warehouse_usage holds them per step as JSON.
CREATE TABLE IF NOT EXISTS {{ t.runs }} (
  run_day DATE NOT NULL,
  run_id STRING,
  dry_run BOOL NOT NULL,
  as_of TIMESTAMP,
  read_from_day DATE NOT NULL,
  in_scope_rows INT64 NOT NULL,
  duplicate_rows INT64 NOT NULL,
  invalid_rows INT64 NOT NULL,
  matched_by_run INT64 NOT NULL,
  closed_unmatched INT64 NOT NULL,
  closed_no_identifier INT64 NOT NULL,
  sent_by_run INT64 NOT NULL,
  api_rejected_by_run INT64 NOT NULL,
  outbox_events INT64 NOT NULL,
  push_sent INT64 NOT NULL,
  push_rejected INT64 NOT NULL,
  push_retries INT64 NOT NULL,
  push_seconds FLOAT64 NOT NULL,
  push_mean_rate FLOAT64 NOT NULL,
  warehouse_jobs INT64 NOT NULL,
  bytes_billed INT64,
  warehouse_usage STRING NOT NULL,
  finished_at TIMESTAMP NOT NULL,
  -- Added with the take-over of a dead push's rows; prepare_outputs adds them to a table made before:
  -- the rows of the run's days another push held, and those this run's push took over and sent.
  push_held_elsewhere INT64,
  push_taken_over INT64
)
