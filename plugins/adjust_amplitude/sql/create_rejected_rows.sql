-- Rows that will never be sent: invalid in the export, or refused by the Attribution API.
CREATE TABLE IF NOT EXISTS {{ t.rejected }} (
  fingerprint STRING NOT NULL,
  stage STRING NOT NULL,
  reason STRING NOT NULL,
  http_status INT64,
  response_body STRING,
  adjust_day DATE NOT NULL,
  row_key STRING,
  first_seen_run_day DATE NOT NULL,
  closed_run_day DATE,
  app_token STRING,
  activity_kind STRING,
  created_at STRING,
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
PARTITION BY adjust_day
CLUSTER BY stage, fingerprint
