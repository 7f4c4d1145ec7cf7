-- DuckDB: generated events appended to Amplitude's Event table, every column of it, from `source`
-- (a relation with vendor_schemas.EVENT_FIELDS). A NULL uuid is made from the event's content, so
-- two copies of one event share it, as the export's duplicates do; a NULL upload delay is a minute.
{%- set uploaded = 'event_time + to_seconds(COALESCE(upload_delay_seconds, 60))' %}
{%- set values = {
  'Adid': 'adid',
  'amplitude_id': 'CAST(amplitude_id AS DECIMAL(38,0))',
  'app': 'CAST(187520 AS BIGINT)',
  'client_event_time': 'event_time',
  'client_upload_time': uploaded,
  'data': "'{\"path\":\"/2/httpapi\"}'::JSON",
  'device_id': 'device_id',
  'event_properties': "'{}'::JSON",
  'event_time': 'event_time',
  'event_type': "COALESCE(event_type, 'session_start')",
  'idfa': 'idfa',
  'is_attribution_event': 'false',
  'library': "CASE lower(platform) WHEN 'ios' THEN 'amplitude-swift/1.11.2' ELSE 'amplitude-android/1.19.3' END",
  'os_name': 'lower(platform)',
  'platform': 'platform',
  'server_received_time': uploaded,
  'server_upload_time': uploaded,
  'session_id': 'CAST(epoch_ms(event_time) AS DECIMAL(38,0))',
  'user_id': 'user_id',
  'user_properties': "'{}'::JSON",
  'uuid': "COALESCE(uuid, CAST(CAST(md5(concat_ws('/', amplitude_id, user_id, device_id, idfa, adid, event_type, epoch_us(event_time))) AS UUID) AS VARCHAR))",
} %}
INSERT INTO {{ table }}
SELECT
{%- for name, _, duckdb_type in columns %}
  {{ values.get(name, 'CAST(NULL AS ' ~ duckdb_type ~ ')') }} AS {{ name }}{% if not loop.last %},{% endif %}
{%- endfor %}
FROM {{ source }}
