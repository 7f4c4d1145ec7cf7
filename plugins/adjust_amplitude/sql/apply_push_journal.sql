{% import '_macros.sql.j2' as m -%}
-- Bring the ledger up to date with the journal: every row still 'matched' that some push
-- acknowledged or refused takes that outcome (the first since the row was last reopened, see
-- reopen_rejected_rows), and its claim ends. Run at the start and at the end of every push attempt;
-- replaying it changes nothing.
MERGE {{ t.ledger }} AS ledger
USING (
  SELECT journal.row_key, journal.outcome, journal.sent_at, journal.run_day, journal.http_status, journal.attempts,
    journal.reject_reason
  FROM {{ t.journal }} AS journal
  JOIN {{ t.ledger }} AS waiting ON waiting.row_key = journal.row_key
  WHERE journal.run_day >= @open_from_day AND journal.outcome IN ('sent', 'rejected')
    AND waiting.adjust_day >= @open_from_day AND waiting.status = 'matched'
    AND {{ m.since_reopened('journal', 'waiting') }}
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY journal.row_key ORDER BY journal.appended_at, journal.outcome, journal.pushed_by, journal.attempts) = 1
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
