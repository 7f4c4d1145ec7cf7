{% import '_macros.sql.j2' as m -%}
-- Dry run: one page of one push partition's matched rows, in key order, sent to no one.
SELECT
  row_key, activity_kind, platform, created_at, idfa, idfv, gps_adid, android_id,
  network_name, campaign_name, adgroup_name, creative_name, country, tracker_name,
  match_pair, amplitude_device_id
FROM {{ t.ledger }}
WHERE adjust_day BETWEEN @open_from_day AND @run_day AND status = 'matched' AND row_key > @after_key AND MOD({{ m.push_bucket('row_key') }}, @partitions) = @partition
ORDER BY row_key
LIMIT @page_size
