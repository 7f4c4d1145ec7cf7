{% import '_macros.sql.j2' as m -%}
-- The run's Adjust attribution rows in scope: read days [@read_start, @day_end) plus every row
-- whose created_at is unusable (it belongs to no day, and must not vanish), validated,
-- with normalised identifiers and a copy number per dedupe key.
CREATE OR REPLACE TABLE {{ t.stage }} AS
WITH source AS (
  SELECT
{%- for column in adjust_columns %}
    {{ m.source_text(column, present) }} AS {{ column }},
{%- endfor %}
    SAFE_CAST(src.created_at AS INT64) AS created_at_seconds
  FROM {{ t.adjust }} AS src
),
scoped AS (
  SELECT
    *,
    {{ m.trim_lower('activity_kind') }} AS kind,
    {{ m.trim_lower('os_name') }} AS platform
  FROM source
  WHERE {{ m.trim_lower('activity_kind') }} IN UNNEST(@activity_kinds)
    AND (IFNULL(TRIM(environment), '') = '' OR {{ m.trim_lower('environment') }} IN UNNEST(@environments))
    AND (
      created_at_seconds IS NULL
      OR created_at_seconds <= 0
      OR (created_at_seconds >= @read_start AND created_at_seconds < @day_end)
    )
),
validated AS (
  SELECT
    *,
    CASE
      WHEN created_at_seconds IS NULL OR created_at_seconds <= 0 THEN 'invalid_created_at'
      WHEN IFNULL(TRIM(adid), '') = '' THEN 'missing_adid'
      WHEN platform IS NULL OR platform NOT IN ('ios', 'android') THEN 'invalid_os_name'
    END AS reject_reason,
    TO_HEX(MD5(CONCAT(
{%- for column in adjust_columns %}
      IFNULL({{ column }}, ''){% if not loop.last %}, '\x1f',{% endif %}
{%- endfor %}
    ))) AS fingerprint,
    {{ m.norm_id('idfa') }} AS match_idfa,
    {{ m.norm_id('idfv') }} AS match_idfv,
    {{ m.norm_id('gps_adid') }} AS match_gps_adid,
    {{ m.norm_id('external_device_id') }} AS match_external_device_id
  FROM scoped
)
SELECT
  *,
  IF(
    reject_reason IS NULL,
    CONCAT(IFNULL(TRIM(app_token), ''), '|', kind, '|', TRIM(adid), '|', CAST(created_at_seconds AS STRING)),
    NULL
  ) AS row_key,
  ROW_NUMBER() OVER (
    PARTITION BY reject_reason IS NULL, IFNULL(TRIM(app_token), ''), kind, TRIM(adid), created_at_seconds, IF(reject_reason IS NULL, '', fingerprint)
    ORDER BY fingerprint
  ) AS copy_number
FROM validated
