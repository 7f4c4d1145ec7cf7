-- Invalid rows of the stage go to rejected_rows once each (keyed by their content), under the day
-- their created_at names, or in the undated group (@undated_day) when it names none: the same
-- place whichever run reads them first.
MERGE {{ t.rejected }} AS target
USING (
  SELECT *
  FROM {{ t.stage }}
  WHERE reject_reason IS NOT NULL AND copy_number = 1
) AS invalid
ON target.fingerprint = invalid.fingerprint AND target.stage = 'validation' AND target.adjust_day >= @open_from_day
WHEN NOT MATCHED THEN INSERT (
  fingerprint, stage, reason, http_status, response_body, adjust_day, row_key, first_seen_run_day,
  app_token, activity_kind, created_at, adid, os_name, environment, idfa, idfv, gps_adid, android_id,
  external_device_id, tracker_name, network_name, campaign_name, adgroup_name, creative_name, country,
  installed_at, reattributed_at, google_app_set_id, att_status
) VALUES (
  invalid.fingerprint, 'validation', invalid.reject_reason, NULL, NULL,
  IF(invalid.created_at_seconds IS NOT NULL, DATE(TIMESTAMP_SECONDS(invalid.created_at_seconds)), @undated_day),
  NULL, @run_day,
  invalid.app_token, invalid.activity_kind, invalid.created_at, invalid.adid, invalid.os_name,
  invalid.environment, invalid.idfa, invalid.idfv, invalid.gps_adid, invalid.android_id,
  invalid.external_device_id, invalid.tracker_name, invalid.network_name, invalid.campaign_name,
  invalid.adgroup_name, invalid.creative_name, invalid.country, invalid.installed_at, invalid.reattributed_at,
  invalid.google_app_set_id, invalid.att_status
)
