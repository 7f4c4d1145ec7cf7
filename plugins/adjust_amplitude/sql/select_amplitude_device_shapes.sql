{% import '_macros.sql.j2' as m -%}
-- The devices of Amplitude's export with events in [@from_seconds, @to_seconds) (the newest Adjust
-- day a report covers), per platform: how many, how many have a device_id of each shape, and how
-- many carry an IDFA or an ADID. The export's side of the report's diagnosis (report/diagnosis.py):
-- a day of four of its columns, read once per report.
WITH devices AS (
  SELECT
    {{ m.lower_ascii('TRIM(platform)') }} AS platform,
    TRIM(device_id) AS device_id,
    LOGICAL_OR(NOT {{ m.missing_id('TRIM(idfa)') }}) AS has_idfa,
    LOGICAL_OR(NOT {{ m.missing_id('TRIM(adid)') }}) AS has_adid
  FROM {{ t.amplitude }}
  WHERE CAST(event_time AS TIMESTAMP) >= TIMESTAMP_SECONDS(@from_seconds)
    AND CAST(event_time AS TIMESTAMP) < TIMESTAMP_SECONDS(@to_seconds)
    AND {{ m.lower_ascii('TRIM(platform)') }} IN ('ios', 'android')
    AND NOT {{ m.missing_id('TRIM(device_id)') }}
  GROUP BY 1, 2
)
SELECT
  platform,
  COUNT(*) AS devices,
  {#- The Android SDK's default: a random UUID followed by "R" (the Swift SDK's too, without an IDFV). #}
  COUNTIF(REGEXP_CONTAINS(device_id, {{ m.uuid_pattern('R') }})) AS random_device_ids,
  COUNTIF(REGEXP_CONTAINS(device_id, {{ m.app_set_device_id_pattern() }})) AS app_set_device_ids,
  {#- A bare UUID: an IDFV on iOS, an advertising id on Android. #}
  COUNTIF(REGEXP_CONTAINS(device_id, {{ m.uuid_pattern('') }})) AS uuid_device_ids,
  COUNTIF(has_idfa) AS with_idfa,
  COUNTIF(has_adid) AS with_adid
FROM devices
GROUP BY platform
ORDER BY platform
