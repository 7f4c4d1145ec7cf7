-- Invalid export rows join the report that closes the last 72-hour window of their Adjust day,
-- beside the valid rows of that day. Rows refused by Amplitude are counted through the ledger.
UPDATE {{ t.rejected }}
SET closed_run_day = @run_day
WHERE stage = 'validation'
  AND closed_run_day IS NULL
  AND adjust_day BETWEEN @open_from_day AND @run_day
  AND UNIX_SECONDS(TIMESTAMP(DATE_ADD(adjust_day, INTERVAL 1 DAY))) + @window_seconds <= @as_of
