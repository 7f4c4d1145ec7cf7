-- The report's decided rows (matched or sent, unmatched, no identifier; whose window the run's day
-- closed) by platform, outcome and Adjust's att_status, with how many carry each advertising id:
-- the Adjust side of the report's diagnosis (report/diagnosis.py).
SELECT
  platform,
  IF(status = 'sent', 'matched', status) AS outcome,
  NULLIF(TRIM(att_status), '') AS att_status,
  COUNT(*) AS row_count,
  COUNTIF(match_idfa IS NOT NULL) AS with_idfa,
  COUNTIF(match_gps_adid IS NOT NULL) AS with_gps_adid
FROM {{ t.ledger }}
WHERE adjust_day BETWEEN @open_from_day AND @run_day
  AND closed_run_day = @run_day AND status IN ('matched', 'sent', 'unmatched', 'no_identifier')
GROUP BY platform, outcome, att_status
ORDER BY platform, outcome, att_status
