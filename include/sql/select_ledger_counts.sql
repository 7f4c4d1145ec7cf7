-- What the run's day matched, closed and sent, for its run record and report.
SELECT
  COUNTIF(first_seen_run_day = @run_day) AS new_rows,
  COUNTIF(matched_run_day = @run_day) AS matched_by_run,
  COUNTIF(closed_run_day = @run_day AND status = 'unmatched') AS closed_unmatched,
  COUNTIF(closed_run_day = @run_day AND status = 'no_identifier') AS closed_no_identifier,
  COUNTIF(sent_run_day = @run_day AND status = 'sent') AS sent_by_run,
  COUNTIF(sent_run_day = @run_day AND status = 'rejected') AS api_rejected_by_run
FROM {{ t.ledger }}
