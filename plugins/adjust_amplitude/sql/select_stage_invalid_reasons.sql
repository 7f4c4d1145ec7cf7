-- Why validation rejected the rows of the run's own day and the undated rows, most common reasons
-- first, each with one example (by fingerprint), for the validation gate's message.
SELECT
  created_at_seconds IS NULL AS undated,
  reject_reason AS reason,
  COUNT(*) AS row_count,
  MIN(fingerprint) AS example_fingerprint
FROM {{ t.stage }}
WHERE reject_reason IS NOT NULL AND copy_number = 1
  AND (created_at_seconds IS NULL OR created_at_seconds >= @day_start)
GROUP BY created_at_seconds IS NULL, reject_reason
ORDER BY undated, row_count DESC, reason
