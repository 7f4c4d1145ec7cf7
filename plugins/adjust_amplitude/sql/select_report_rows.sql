{% import '_macros.sql.j2' as m -%}
-- The report's CSV: the rows the run's day closed without a match, every cell as people see it.
-- Times are ISO 8601 in UTC; Adjust's Unix-seconds columns (created_at, installed_at,
-- reattributed_at) too, where they hold whole seconds (0, Adjust's "no time", shows empty; other
-- text as it came). A cell a spreadsheet would run as a formula (= + - @ tab CR first) gets a
-- leading ' so Excel and Google Sheets show it as text. An empty cell is NULL, written empty.
-- With @mask_identifiers (report_identifiers = masked) the advertising and device ids show only
-- their last 4 characters, and row_key (which holds Adjust's adid) is its MD5 in hex: engineers
-- find the row with TO_HEX(MD5(row_key)) in discrepancy_rows, which keeps every value whole.
WITH closed AS (
  SELECT *, TRIM(installed_at) AS installed_trimmed, TRIM(reattributed_at) AS reattributed_trimmed
  FROM {{ t.discrepancy_rows }}
  WHERE closed_run_day = @run_day
),
seconds AS (
  SELECT
    *,
    IF(created_at >= 0, created_at, NULL) AS created_seconds,
    {{ m.epoch_seconds('installed_trimmed') }} AS installed_seconds,
    {{ m.epoch_seconds('reattributed_trimmed') }} AS reattributed_seconds
  FROM closed
)
SELECT
  IF(@mask_identifiers, TO_HEX(MD5(row_key)), {{ m.csv_text('row_key') }}) AS row_key,
  {{ m.csv_text('reason') }} AS reason,
  {{ m.csv_time('window_closed_at') }} AS window_closed_at,
  {{ m.csv_time('amplitude_seen_at') }} AS amplitude_seen_at,
  CAST(closed_run_day AS STRING) AS closed_run_day,
  {{ m.csv_text('closed_by_run_id') }} AS closed_by_run_id,
  CAST(adjust_day AS STRING) AS adjust_day,
{%- for column in ['app_token', 'activity_kind', 'created_at', 'adid', 'os_name', 'environment', 'idfa', 'idfv',
                   'gps_adid', 'android_id', 'google_app_set_id', 'external_device_id', 'tracker_name', 'network_name', 'campaign_name',
                   'adgroup_name', 'creative_name', 'country'] %}
{%- if column == 'created_at' %}
  {{ m.csv_epoch('CAST(created_at AS STRING)', 'created_seconds') }} AS created_at,
{%- elif column in ('adid', 'idfa', 'idfv', 'gps_adid', 'android_id', 'google_app_set_id', 'external_device_id') %}
  {{ m.csv_identifier(column) }} AS {{ column }},
{%- else %}
  {{ m.csv_text(column) }} AS {{ column }},
{%- endif %}
{%- endfor %}
  {{ m.csv_epoch('installed_at', 'installed_seconds') }} AS installed_at,
  {{ m.csv_epoch('reattributed_at', 'reattributed_seconds') }} AS reattributed_at,
  {{ m.csv_text('att_status') }} AS att_status
FROM seconds AS s
ORDER BY s.adjust_day, s.created_at, s.row_key
