{% import '_macros.sql.j2' as m -%}
-- One push attempt claims the matched rows of its partition in one atomic statement; only the
-- holder of a row's claim sends it. A row is free when nobody claimed it, when the claim is this
-- push's own (a retry of the same run and partition takes over at once), or when the claim is
-- older than @claim_ttl_seconds and its holder has shown no sign of life in the journal for as
-- long (a killed push). Rows the journal shows as sent or refused (since they were last reopened)
-- are never claimed again.
-- A run claims rows of its open days up to its own day, so each journal row's run_day is at or
-- after its row's adjust_day: reading the journal from @open_from_day sees every row it must.
UPDATE {{ t.ledger }} AS ledger
SET claimed_by = @claimed_by, claimed_at = TIMESTAMP_SECONDS(@now)
WHERE adjust_day BETWEEN @open_from_day AND @run_day
  AND status = 'matched'
  -- With one partition every row is in it: no bucket to compute (two MD5s a row).
  AND (@partitions = 1 OR MOD({{ m.push_bucket('row_key') }}, @partitions) = @partition)
  AND (
    claimed_by IS NULL
    OR STARTS_WITH(claimed_by, @claim_prefix)
    OR (
      claimed_at <= TIMESTAMP_SECONDS(@now - @claim_ttl_seconds)
      AND claimed_by NOT IN (
        SELECT pushed_by FROM {{ t.journal }}
        WHERE run_day >= @open_from_day AND outcome = 'alive' AND appended_at > TIMESTAMP_SECONDS(@now - @claim_ttl_seconds)
      )
    )
  )
  AND NOT {{ m.decided(t.journal, 'ledger') }}
