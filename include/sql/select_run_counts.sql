-- What the run's day saw and did, for its run record and report.
SELECT
  (SELECT COUNT(*) FROM {{ t.stage }}) AS in_scope_rows,
  (SELECT COUNTIF(copy_number > 1) FROM {{ t.stage }}) AS duplicate_rows,
  (SELECT COUNTIF(reject_reason IS NOT NULL AND copy_number = 1) FROM {{ t.stage }}) AS invalid_rows,
  COUNTIF(matched_run_day = @run_day) AS matched_by_run,
  COUNTIF(closed_run_day = @run_day AND status = 'unmatched') AS closed_unmatched,
  COUNTIF(closed_run_day = @run_day AND status = 'no_identifier') AS closed_no_identifier,
  COUNTIF(sent_run_day = @run_day AND status = 'sent') AS sent_by_run,
  COUNTIF(sent_run_day = @run_day AND status = 'rejected') AS api_rejected_by_run
FROM {{ t.ledger }}
