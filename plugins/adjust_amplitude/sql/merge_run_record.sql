-- The run record of the day, replaced by each run of that day.
MERGE {{ t.runs }} AS target
USING (
  SELECT
    @run_day AS run_day, @run_id AS run_id, @dry_run AS dry_run, TIMESTAMP_SECONDS(@as_of) AS as_of,
    @read_from_day AS read_from_day, @in_scope_rows AS in_scope_rows, @duplicate_rows AS duplicate_rows,
    @invalid_rows AS invalid_rows, @matched_by_run AS matched_by_run, @closed_unmatched AS closed_unmatched,
    @closed_no_identifier AS closed_no_identifier, @sent_by_run AS sent_by_run,
    @api_rejected_by_run AS api_rejected_by_run,
    @outbox_events AS outbox_events, @push_sent AS push_sent, @push_rejected AS push_rejected,
    @push_retries AS push_retries, @push_seconds AS push_seconds, @push_mean_rate AS push_mean_rate,
    @warehouse_jobs AS warehouse_jobs, CAST(@bytes_billed AS INT64) AS bytes_billed, -- NULL on DuckDB
    @warehouse_usage AS warehouse_usage,
    CURRENT_TIMESTAMP() AS finished_at,
    @push_held_elsewhere AS push_held_elsewhere, @push_taken_over AS push_taken_over
) AS fresh
ON target.run_day = fresh.run_day
WHEN MATCHED THEN UPDATE SET
  run_id = fresh.run_id, dry_run = fresh.dry_run, as_of = fresh.as_of, read_from_day = fresh.read_from_day,
  in_scope_rows = fresh.in_scope_rows, duplicate_rows = fresh.duplicate_rows, invalid_rows = fresh.invalid_rows,
  matched_by_run = fresh.matched_by_run, closed_unmatched = fresh.closed_unmatched,
  closed_no_identifier = fresh.closed_no_identifier, sent_by_run = fresh.sent_by_run,
  api_rejected_by_run = fresh.api_rejected_by_run,
  outbox_events = fresh.outbox_events, push_sent = fresh.push_sent, push_rejected = fresh.push_rejected,
  push_retries = fresh.push_retries, push_seconds = fresh.push_seconds, push_mean_rate = fresh.push_mean_rate,
  warehouse_jobs = fresh.warehouse_jobs, bytes_billed = fresh.bytes_billed, warehouse_usage = fresh.warehouse_usage,
  finished_at = fresh.finished_at, push_held_elsewhere = fresh.push_held_elsewhere,
  push_taken_over = fresh.push_taken_over
WHEN NOT MATCHED THEN INSERT (
  run_day, run_id, dry_run, as_of, read_from_day, in_scope_rows, duplicate_rows, invalid_rows, matched_by_run, closed_unmatched, closed_no_identifier, sent_by_run, api_rejected_by_run, outbox_events, push_sent, push_rejected, push_retries, push_seconds, push_mean_rate, warehouse_jobs, bytes_billed, warehouse_usage, finished_at,
  push_held_elsewhere, push_taken_over
) VALUES (
  fresh.run_day, fresh.run_id, fresh.dry_run, fresh.as_of, fresh.read_from_day, fresh.in_scope_rows, fresh.duplicate_rows, fresh.invalid_rows, fresh.matched_by_run, fresh.closed_unmatched, fresh.closed_no_identifier, fresh.sent_by_run, fresh.api_rejected_by_run, fresh.outbox_events, fresh.push_sent, fresh.push_rejected, fresh.push_retries, fresh.push_seconds, fresh.push_mean_rate, fresh.warehouse_jobs, fresh.bytes_billed, fresh.warehouse_usage, fresh.finished_at,
  fresh.push_held_elsewhere, fresh.push_taken_over
)
