{% import '_macros.sql.j2' as m -%}
-- Invalid rows of the stage go to rejected_rows once each (keyed by their content), under the day
-- their created_at names, or in the undated group (@undated_day) when it names none: the same
-- place whichever run reads them first.
MERGE {{ t.rejected }} AS target
USING (
  SELECT *
  FROM {{ t.stage }}
  WHERE reject_reason IS NOT NULL AND copy_number = 1
) AS invalid
ON target.fingerprint = invalid.fingerprint AND target.stage = 'validation' AND target.adjust_day >= @open_from_day
WHEN NOT MATCHED THEN INSERT (
  fingerprint, stage, reason, http_status, response_body, adjust_day, row_key, first_seen_run_day,
  {{ m.stored_columns() }}
) VALUES (
  invalid.fingerprint, 'validation', invalid.reject_reason, NULL, NULL,
  IF(invalid.created_at_seconds IS NOT NULL, DATE(TIMESTAMP_SECONDS(invalid.created_at_seconds)), @undated_day),
  NULL, @run_day,
  {{ m.stored_values('invalid', false) }}
)
