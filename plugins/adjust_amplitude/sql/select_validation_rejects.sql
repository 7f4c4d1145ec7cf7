-- What validation rejected among the Adjust rows the run's day read first, most common reasons
-- first, each with one example (by fingerprint), for the validation gate.
SELECT reason, COUNT(*) AS row_count, MIN(fingerprint) AS example_fingerprint
FROM {{ t.rejected }}
WHERE adjust_day >= @open_from_day AND stage = 'validation' AND first_seen_run_day = @run_day
GROUP BY reason
ORDER BY row_count DESC, reason
