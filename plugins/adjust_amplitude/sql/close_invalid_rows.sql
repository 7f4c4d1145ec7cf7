-- Invalid export rows join the report that closes the last 72-hour window of their Adjust day,
-- beside the valid rows of that day. Rows refused by Amplitude are counted through the ledger.
UPDATE {{ t.rejected }}
SET closed_run_day = @run_day
WHERE stage = 'validation'
  AND closed_run_day IS NULL
  AND adjust_day BETWEEN @open_from_day AND @run_day
  -- The day's last window closed by as_of: the day ends before (as_of - window). Compared as dates,
  -- with no arithmetic on adjust_day: BigQuery may evaluate it on the undated group's 9999-12-31 too.
  AND adjust_day < DATE(TIMESTAMP_SECONDS(@as_of - @window_seconds))
