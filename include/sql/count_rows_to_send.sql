{% import '_macros.sql.j2' as m -%}
-- How many matched rows one push partition has to send, for progress and ETA.
SELECT COUNT(*) AS rows_to_send
FROM {{ t.ledger }}
WHERE status = 'matched' AND MOD({{ m.push_bucket('row_key') }}, @partitions) = @partition
