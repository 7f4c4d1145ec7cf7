{% import '_macros.sql.j2' as m -%}
-- The rows one push attempt holds the claim to, in key order, each with its event (NULL when the
-- row has nothing Amplitude can attribute by). DuckDB reads them a page at a time (keyset
-- pagination on row_key); BigQuery in one job whose results are read page by page.
WITH held AS (
  SELECT {{ m.event_columns() }}
  FROM {{ t.ledger }}
  WHERE adjust_day >= @open_from_day AND status = 'matched' AND claimed_by = @claimed_by AND row_key > @after_key
  ORDER BY row_key
  LIMIT @page_size
),
  {{ m.attribution_events('held') }}
SELECT row_key, event
FROM events
ORDER BY row_key
