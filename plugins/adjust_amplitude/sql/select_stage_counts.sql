-- What the run's read of the Adjust export saw, for its run record.
SELECT
  COUNT(*) AS in_scope_rows,
  COUNTIF(copy_number > 1) AS duplicate_rows,
  COUNTIF(reject_reason IS NOT NULL AND copy_number = 1) AS invalid_rows
FROM {{ t.stage }}
