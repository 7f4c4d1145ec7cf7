-- Rows refused by the Attribution API (or unsendable) also go to rejected_rows, with the answer.
MERGE {{ t.rejected }} AS target
USING (
  SELECT ledger.*, result.response_body, result.reject_reason AS result_reason, result.http_status AS result_status
  FROM {{ t.push_results }} AS result
  JOIN {{ t.ledger }} AS ledger ON ledger.row_key = result.row_key
  WHERE result.outcome = 'rejected'
) AS refused
ON target.row_key = refused.row_key AND target.stage = 'amplitude_api'
WHEN NOT MATCHED THEN INSERT (
  fingerprint, stage, reason, http_status, response_body, adjust_day, row_key, first_seen_run_day,
  app_token, activity_kind, created_at, adid, os_name, environment, idfa, idfv, gps_adid, android_id,
  external_device_id, tracker_name, network_name, campaign_name, adgroup_name, creative_name, country,
  installed_at, reattributed_at
) VALUES (
  refused.row_key, 'amplitude_api', refused.result_reason, refused.result_status, refused.response_body,
  refused.adjust_day, refused.row_key, @run_day,
  refused.app_token, refused.activity_kind, CAST(refused.created_at AS STRING), refused.adid, refused.os_name,
  refused.environment, refused.idfa, refused.idfv, refused.gps_adid, refused.android_id,
  refused.external_device_id, refused.tracker_name, refused.network_name, refused.campaign_name,
  refused.adgroup_name, refused.creative_name, refused.country, refused.installed_at, refused.reattributed_at
)
