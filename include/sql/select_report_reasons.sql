{% import '_macros.sql.j2' as m -%}
-- Why the rows of one report did not reach Amplitude, per reason and platform: rows closed
-- without a match, rows Amplitude refused or that had nothing it can attribute by, and invalid
-- export rows.
SELECT outcome, reason, platform, COUNT(*) AS row_count
FROM (
  SELECT
    IF(reason IN ('no_identifier', 'placeholder_identifier'), 'no_identifier', 'unmatched') AS outcome,
    reason,
    IFNULL({{ m.trim_lower('os_name') }}, '') AS platform
  FROM {{ t.discrepancy_rows }}
  WHERE closed_run_day = @run_day
  UNION ALL
  SELECT 'rejected', IFNULL(reject_reason, 'unknown'), platform
  FROM {{ t.ledger }}
  WHERE adjust_day >= @open_from_day AND closed_run_day = @run_day AND status = 'rejected'
  UNION ALL
  SELECT 'rejected', reason, IFNULL({{ m.trim_lower('os_name') }}, '')
  FROM {{ t.rejected }}
  WHERE adjust_day >= @open_from_day AND stage = 'validation' AND closed_run_day = @run_day
)
GROUP BY outcome, reason, platform
ORDER BY outcome, row_count DESC, reason, platform
