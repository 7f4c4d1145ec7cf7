-- How many rows one push attempt holds the claim to, for progress and ETA.
SELECT COUNT(*) AS rows_to_send
FROM {{ t.ledger }}
WHERE adjust_day >= @open_from_day AND status = 'matched' AND claimed_by = @claimed_by
