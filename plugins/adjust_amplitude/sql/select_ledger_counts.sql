-- What the run's day matched, closed and sent, for its run record and report, and what it leaves open
-- on the oldest day it reads.
SELECT
  COUNTIF(first_seen_run_day = @run_day) AS new_rows,
  COUNTIF(matched_run_day = @run_day) AS matched_by_run,
  COUNTIF(closed_run_day = @run_day AND status = 'unmatched') AS closed_unmatched,
  COUNTIF(closed_run_day = @run_day AND status = 'no_identifier') AS closed_no_identifier,
  COUNTIF(sent_run_day = @run_day AND status = 'sent') AS sent_by_run,
  COUNTIF(sent_run_day = @run_day AND status = 'rejected') AS api_rejected_by_run,
  -- Rows of the oldest open day whose window is still open: the next run no longer reads their day.
  -- (Matched rows a push could not send fail their push every day before; a dry run keeps them.)
  COUNTIF(adjust_day = @open_from_day AND status = 'pending') AS left_open
FROM {{ t.ledger }}
WHERE adjust_day >= @open_from_day
