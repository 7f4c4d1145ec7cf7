-- The rows one push attempt holds the claim to, in key order. DuckDB reads them a page at a time
-- (keyset pagination on row_key); BigQuery in one job whose results are read page by page.
SELECT
  row_key, activity_kind, platform, created_at, idfa, idfv, gps_adid, android_id,
  network_name, campaign_name, adgroup_name, creative_name, country, tracker_name,
  match_pair, amplitude_device_id
FROM {{ t.ledger }}
WHERE adjust_day >= @open_from_day AND status = 'matched' AND claimed_by = @claimed_by AND row_key > @after_key
ORDER BY row_key
LIMIT @page_size
