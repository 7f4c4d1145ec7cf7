{% import '_macros.sql.j2' as m -%}
-- Rows refused by the Attribution API (or unsendable) also go to rejected_rows, with the answer,
-- from the journal while their ledger row is still 'matched' (before apply_push_journal).
MERGE {{ t.rejected }} AS target
USING (
  SELECT ledger.*, done.response_body, done.reject_reason AS result_reason, done.http_status AS result_status,
    done.run_day AS result_run_day
  FROM {{ t.journal }} AS done
  JOIN {{ t.ledger }} AS ledger ON ledger.row_key = done.row_key
  WHERE done.run_day >= @open_from_day AND ledger.adjust_day >= @open_from_day
    AND done.outcome = 'rejected' AND ledger.status = 'matched'
    AND {{ m.since_reopened('done', 'ledger') }}
  QUALIFY ROW_NUMBER() OVER (PARTITION BY done.row_key ORDER BY done.appended_at, done.pushed_by, done.attempts) = 1
) AS refused
ON target.row_key = refused.row_key AND target.stage = 'amplitude_api' AND target.adjust_day >= @open_from_day
WHEN NOT MATCHED THEN INSERT (
  fingerprint, stage, reason, http_status, response_body, adjust_day, row_key, first_seen_run_day,
  {{ m.stored_columns() }}
) VALUES (
  refused.row_key, 'amplitude_api', refused.result_reason, refused.result_status, refused.response_body,
  refused.adjust_day, refused.row_key, refused.result_run_day,
  {{ m.stored_values('refused', true) }}
)
