{% import '_macros.sql.j2' as m -%}
-- Param resend_rejected: the rows of a push's partition that Amplitude refused (an HTTP answer,
-- reject_reason amplitude_http_*) in the run's open days are matched again, to be claimed and sent
-- like any other. Their refusals stay in the journal and count no more: what reads the journal
-- takes only what came after reopened_at (the macro `decided`), the time of this statement by the
-- clock the journal's appended_at is written by. Once per run: a row reopened since the run was
-- planned (by an earlier try of it) and refused again stays refused.
UPDATE {{ t.ledger }}
SET status = 'matched', reopened_at = @reopened_at, sent_at = NULL, sent_run_day = NULL,
  http_status = NULL, attempts = NULL, reject_reason = NULL, claimed_by = NULL, claimed_at = NULL
WHERE adjust_day BETWEEN @open_from_day AND @run_day
  AND status = 'rejected' AND STARTS_WITH(reject_reason, 'amplitude_http_')
  AND (@partitions = 1 OR MOD({{ m.push_bucket('row_key') }}, @partitions) = @partition)
  AND (reopened_at IS NULL OR reopened_at < TIMESTAMP_SECONDS(@planned_at))
