-- The oldest Adjust day the run's summary refresh must cover: @summary_from_day, or the oldest
-- day of a row this run matched, closed or sent (a late row or a long gap between runs can
-- reach further back), whichever is earlier.
SELECT LEAST(@summary_from_day, IFNULL(MIN(adjust_day), @summary_from_day)) AS from_day
FROM (
  SELECT adjust_day
  FROM {{ t.ledger }}
  WHERE adjust_day >= @open_from_day
    AND (matched_run_day = @run_day OR closed_run_day = @run_day OR sent_run_day = @run_day)
  UNION ALL
  SELECT adjust_day
  FROM {{ t.rejected }}
  WHERE adjust_day >= @open_from_day AND closed_run_day = @run_day
)
