{% import '_macros.sql.j2' as m -%}
-- The matched rows of a push's partition that another push holds the claim to and has not sent or
-- refused yet (by the journal), per holder, with the holder's last sign of life (its claim, or its
-- newest `alive` row): the claim lapses claim_ttl_seconds after it (claim_rows_to_send). What a
-- push waits for once it has sent its own rows, so that a run never ends with rows of its days
-- left in a dead push's hands.
WITH held AS (
  SELECT claimed_by, COUNT(*) AS row_count, MAX(claimed_at) AS claimed_at
  FROM {{ t.ledger }} AS ledger
  WHERE adjust_day BETWEEN @open_from_day AND @run_day
    AND status = 'matched'
    AND (@partitions = 1 OR MOD({{ m.push_bucket('row_key') }}, @partitions) = @partition)
    AND claimed_by IS NOT NULL AND NOT STARTS_WITH(claimed_by, @claim_prefix)
    AND NOT {{ m.decided(t.journal, 'ledger') }}
  GROUP BY claimed_by
),
alive AS (
  SELECT pushed_by, MAX(appended_at) AS last_alive
  FROM {{ t.journal }}
  WHERE run_day >= @open_from_day AND outcome = 'alive'
  GROUP BY pushed_by
)
SELECT
  held.claimed_by,
  held.row_count,
  UNIX_SECONDS(GREATEST(held.claimed_at, IFNULL(alive.last_alive, held.claimed_at))) AS last_sign_seconds
FROM held
LEFT JOIN alive ON alive.pushed_by = held.claimed_by
ORDER BY held.row_count DESC, held.claimed_by
