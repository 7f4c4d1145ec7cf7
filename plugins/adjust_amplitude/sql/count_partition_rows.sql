{% import '_macros.sql.j2' as m -%}
-- The matched rows of each push partition in a run's open days, whoever holds them: the most each
-- partition's push can have to send, from which its time limit is derived. Rows already sent but
-- not yet applied from the journal count too: the figure is a bound, not a progress count.
SELECT
  IF(@partitions = 1, 0, MOD({{ m.push_bucket('row_key') }}, @partitions)) AS push_partition,
  COUNT(*) AS row_count
FROM {{ t.ledger }}
WHERE adjust_day BETWEEN @open_from_day AND @run_day
  AND status = 'matched'
GROUP BY push_partition
