-- How many matched rows one push partition has to send, for progress and ETA.
SELECT COUNT(*) AS rows_to_send
FROM {{ t.ledger }}
WHERE status = 'matched' AND MOD(created_at, @partitions) = @partition
