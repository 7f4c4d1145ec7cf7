-- What Amplitude refused among the rows pushed by the run's day, most common reasons first.
-- Rows rejected before any request (no_sendable_identifier) are data, not refusals: not counted.
SELECT reason, COUNT(*) AS row_count, MIN(response_body) AS example_body
FROM {{ t.rejected }}
WHERE adjust_day >= @open_from_day AND stage = 'amplitude_api' AND first_seen_run_day = @run_day AND http_status IS NOT NULL
GROUP BY reason
ORDER BY row_count DESC, reason
