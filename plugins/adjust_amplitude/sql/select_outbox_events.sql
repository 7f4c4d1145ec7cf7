{% import '_macros.sql.j2' as m -%}
-- Dry run: the events one push partition's matched rows would be sent as, in key order, sent to
-- no one. A row with nothing Amplitude can attribute by has no event.
WITH matched AS (
  SELECT {{ m.event_columns() }}
  FROM {{ t.ledger }}
  WHERE adjust_day BETWEEN @open_from_day AND @run_day AND status = 'matched'
    -- With one partition every row is in it: no bucket to compute (two MD5s a row).
    AND (@partitions = 1 OR MOD({{ m.push_bucket('row_key') }}, @partitions) = @partition)
),
  {{ m.attribution_events('matched') }}
SELECT event
FROM events
WHERE sendable
ORDER BY row_key
