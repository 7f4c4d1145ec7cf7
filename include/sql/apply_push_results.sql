-- Record acknowledged and refused rows in the ledger. Only rows still 'matched' change, so
-- replaying a flush is harmless.
MERGE {{ t.ledger }} AS ledger
USING {{ t.push_results }} AS result
ON ledger.row_key = result.row_key
WHEN MATCHED AND ledger.status = 'matched' THEN UPDATE SET
  status = result.outcome,
  sent_at = result.sent_at,
  sent_run_day = @run_day,
  http_status = result.http_status,
  attempts = result.attempts,
  reject_reason = result.reject_reason
