-- The report's matched rows (matched or sent, whose window the run's day closed) by platform and
-- the identifier pair that matched them (rule 4): which identifiers carry the app's attribution.
SELECT platform, match_pair, COUNT(*) AS row_count
FROM {{ t.ledger }}
WHERE adjust_day BETWEEN @open_from_day AND @run_day
  AND closed_run_day = @run_day AND status IN ('matched', 'sent')
GROUP BY platform, match_pair
ORDER BY platform, row_count DESC, match_pair
