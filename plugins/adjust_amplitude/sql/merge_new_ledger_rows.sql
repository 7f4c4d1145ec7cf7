-- New deduplicated valid rows enter the ledger as pending; rows already there are left alone,
-- so late re-deliveries and re-runs never reset a row that was sent or closed. A row an earlier run
-- rejected for a created_at too far in the future (the ceiling moves with the clock) stays rejected.
MERGE {{ t.ledger }} AS ledger
USING (
  SELECT *
  FROM {{ t.stage }}
  WHERE reject_reason IS NULL AND copy_number = 1
    AND fingerprint NOT IN (
      SELECT fingerprint FROM {{ t.rejected }}
      WHERE stage = 'validation' AND reason = 'implausible_created_at' AND adjust_day >= @open_from_day
    )
) AS fresh
ON ledger.row_key = fresh.row_key AND ledger.adjust_day >= @open_from_day
WHEN NOT MATCHED THEN INSERT (
  row_key, adjust_day, app_token, activity_kind, adid, created_at, platform, environment, os_name,
  idfa, idfv, gps_adid, android_id, external_device_id, tracker_name, network_name, campaign_name,
  adgroup_name, creative_name, country, installed_at, reattributed_at,
  match_idfa, match_idfv, match_gps_adid, match_external_device_id, has_identifier, status, first_seen_run_day,
  google_app_set_id, match_google_app_set_id, att_status
) VALUES (
  fresh.row_key, DATE(TIMESTAMP_SECONDS(fresh.created_at_seconds)), fresh.app_token, fresh.kind, TRIM(fresh.adid),
  fresh.created_at_seconds, fresh.platform, fresh.environment, fresh.os_name,
  fresh.idfa, fresh.idfv, fresh.gps_adid, fresh.android_id, fresh.external_device_id, fresh.tracker_name,
  fresh.network_name, fresh.campaign_name, fresh.adgroup_name, fresh.creative_name, fresh.country,
  fresh.installed_at, fresh.reattributed_at,
  fresh.match_idfa, fresh.match_idfv, fresh.match_gps_adid, fresh.match_external_device_id,
  COALESCE(fresh.match_idfa, fresh.match_idfv, fresh.match_gps_adid, fresh.match_external_device_id,
           fresh.match_google_app_set_id) IS NOT NULL,
  'pending', @run_day, fresh.google_app_set_id, fresh.match_google_app_set_id, fresh.att_status
)
