-- Every ledger row whose 72-hour window ended at or before @as_of is closed by this run: its
-- outcome is final and it belongs to this run's report. Pending rows become unmatched (or
-- no_identifier) and will never be sent; matched, sent and refused rows keep their status.
UPDATE {{ t.ledger }}
SET
  status = CASE
    WHEN status != 'pending' THEN status
    WHEN has_identifier THEN 'unmatched'
    ELSE 'no_identifier'
  END,
  window_closed_at = TIMESTAMP_SECONDS(created_at + @window_seconds),
  closed_run_day = @run_day,
  closed_by_run_id = @run_id
WHERE adjust_day BETWEEN @open_from_day AND @run_day
  AND closed_run_day IS NULL
  AND created_at < @day_end
  AND created_at + @window_seconds <= @as_of
