{% import '_macros.sql.j2' as m -%}
-- The refusals of the rows reopen_rejected_rows matched again leave rejected_rows: a row refused
-- again is entered anew, with its new answer (merge_api_rejections). Replaying it changes nothing:
-- a row refused again is no longer 'matched'.
DELETE FROM {{ t.rejected }}
WHERE stage = 'amplitude_api' AND adjust_day >= @open_from_day
  AND row_key IN (
    SELECT row_key FROM {{ t.ledger }}
    WHERE adjust_day BETWEEN @open_from_day AND @run_day
      AND status = 'matched' AND reopened_at >= TIMESTAMP_SECONDS(@planned_at)
      AND (@partitions = 1 OR MOD({{ m.push_bucket('row_key') }}, @partitions) = @partition)
  )
