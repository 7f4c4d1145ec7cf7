-- Bring the ledger up to date with the journal: every row still 'matched' that some push
-- acknowledged or refused takes that outcome, and its claim ends. Run at the start and at the end
-- of every push attempt; replaying it changes nothing.
MERGE {{ t.ledger }} AS ledger
USING (
  SELECT row_key, outcome, sent_at, run_day, http_status, attempts, reject_reason
  FROM {{ t.journal }}
  WHERE run_day >= @open_from_day AND outcome IN ('sent', 'rejected')
  QUALIFY ROW_NUMBER() OVER (PARTITION BY row_key ORDER BY appended_at, outcome, pushed_by, attempts) = 1
) AS done
ON ledger.row_key = done.row_key AND ledger.adjust_day >= @open_from_day
WHEN MATCHED AND ledger.status = 'matched' THEN UPDATE SET
  status = done.outcome,
  sent_at = done.sent_at,
  sent_run_day = done.run_day,
  http_status = done.http_status,
  attempts = done.attempts,
  reject_reason = done.reject_reason,
  claimed_by = NULL,
  claimed_at = NULL
