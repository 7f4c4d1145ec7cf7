-- The rows the run's day closed without a match, for the report's CSV.
SELECT
  row_key, reason, window_closed_at, amplitude_seen_at, closed_run_day, closed_by_run_id, adjust_day,
  app_token, activity_kind, created_at, adid, os_name, environment, idfa, idfv, gps_adid, android_id,
  external_device_id, tracker_name, network_name, campaign_name, adgroup_name, creative_name, country,
  installed_at, reattributed_at
FROM {{ t.discrepancy_rows }}
WHERE closed_run_day = @run_day
ORDER BY adjust_day, created_at, row_key
