-- What the run's read of the Adjust export saw, for its run record and the validation gate: the
-- rows of its own day (from @day_start), and the undated rows (created_at names no day), each
-- counted from the export as it is now, so the counts are the same whichever run read first.
SELECT
  COUNT(*) AS in_scope_rows,
  COUNTIF(copy_number > 1) AS duplicate_rows,
  COUNTIF(reject_reason IS NOT NULL AND copy_number = 1) AS invalid_rows,
  COUNTIF(copy_number = 1) AS distinct_rows,
  COUNTIF(copy_number = 1 AND created_at_seconds >= @day_start) AS day_rows,
  COUNTIF(copy_number = 1 AND created_at_seconds >= @day_start AND reject_reason IS NOT NULL) AS day_invalid_rows,
  COUNTIF(copy_number = 1 AND created_at_seconds IS NULL) AS undated_rows
FROM {{ t.stage }}
