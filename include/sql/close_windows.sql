-- Pending rows whose window ended at or before @as_of are closed for good: they will not be sent.
UPDATE {{ t.ledger }}
SET
  status = IF(has_identifier, 'unmatched', 'no_identifier'),
  window_closed_at = TIMESTAMP_SECONDS(created_at + @window_seconds),
  closed_run_day = @run_day,
  closed_by_run_id = @run_id
WHERE status = 'pending'
  AND created_at < @day_end
  AND created_at + @window_seconds <= @as_of
