-- The most common reasons Amplitude refused rows pushed by the run's day, for the reject gate.
SELECT reason, COUNT(*) AS rows, MIN(response_body) AS example_body
FROM {{ t.rejected }}
WHERE stage = 'amplitude_api' AND first_seen_run_day = @run_day
GROUP BY reason
ORDER BY rows DESC, reason
LIMIT 5
