-- The rows closed by the run's day, copied once into discrepancy_rows.
MERGE {{ t.discrepancy_rows }} AS target
USING (
  SELECT *
  FROM {{ t.ledger }}
  WHERE closed_run_day = @run_day AND status IN ('unmatched', 'no_identifier')
) AS closed
ON target.row_key = closed.row_key
WHEN NOT MATCHED THEN INSERT (
  row_key, reason, window_closed_at, closed_run_day, closed_by_run_id, adjust_day,
  app_token, activity_kind, created_at, adid, os_name, environment, idfa, idfv, gps_adid, android_id,
  external_device_id, tracker_name, network_name, campaign_name, adgroup_name, creative_name, country,
  installed_at, reattributed_at
) VALUES (
  closed.row_key, IF(closed.status = 'unmatched', 'no_amplitude_match', 'no_identifier'),
  closed.window_closed_at, closed.closed_run_day, closed.closed_by_run_id, closed.adjust_day,
  closed.app_token, closed.activity_kind, closed.created_at, closed.adid, closed.os_name, closed.environment,
  closed.idfa, closed.idfv, closed.gps_adid, closed.android_id, closed.external_device_id, closed.tracker_name,
  closed.network_name, closed.campaign_name, closed.adgroup_name, closed.creative_name, closed.country,
  closed.installed_at, closed.reattributed_at
)
