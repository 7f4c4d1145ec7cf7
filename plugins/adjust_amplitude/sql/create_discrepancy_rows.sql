-- Every row whose 72-hour window closed without a match, with the Adjust columns as they came.
-- reason: no_amplitude_match, opened_after_window (first Amplitude activity after the window,
-- at amplitude_seen_at) or no_identifier.
CREATE TABLE IF NOT EXISTS {{ t.discrepancy_rows }} (
  row_key STRING NOT NULL,
  reason STRING NOT NULL,
  window_closed_at TIMESTAMP NOT NULL,
  amplitude_seen_at TIMESTAMP,
  closed_run_day DATE NOT NULL,
  closed_by_run_id STRING,
  adjust_day DATE NOT NULL,
  app_token STRING,
  activity_kind STRING,
  created_at INT64,
  adid STRING,
  os_name STRING,
  environment STRING,
  idfa STRING,
  idfv STRING,
  gps_adid STRING,
  android_id STRING,
  external_device_id STRING,
  tracker_name STRING,
  network_name STRING,
  campaign_name STRING,
  adgroup_name STRING,
  creative_name STRING,
  country STRING,
  installed_at STRING,
  reattributed_at STRING,
  -- Added with App Set ID and the report's diagnosis; prepare_outputs adds them to a table made before.
  google_app_set_id STRING,
  att_status STRING
)
PARTITION BY closed_run_day
CLUSTER BY reason, row_key
