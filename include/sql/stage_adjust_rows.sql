{% import '_macros.sql.j2' as m -%}
-- The run's Adjust attribution rows in scope: read days [@read_start, @day_end), plus every row
-- whose created_at is no time at all (unreadable, before @created_at_floor or after
-- @created_at_ceiling: it belongs to no day, and must not vanish) among those read (the whole
-- table, or with adjust_partition_column the partitions of the read window), validated, with normalised
-- identifiers and a copy number per dedupe key. A created_at in milliseconds is scoped by the
-- day it names and rejected there with its own reason.
-- The step drops it, also when it fails; should its process be killed, BigQuery deletes it a day on.
CREATE OR REPLACE TABLE {{ t.stage }}
OPTIONS (expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 1 DAY))
AS
WITH source AS (
  SELECT
{%- for column in adjust_columns %}
    {{ m.source_text(column, present) }} AS {{ column }},
{%- endfor %}
    {#- Whole seconds whatever the column's type (input_contract): text must hold an integer,
        a fraction is cut off, never rounded up into the next second. #}
{%- if created_at_kind == 'number' %}
    SAFE_CAST(TRUNC(src.created_at) AS INT64) AS created_at_number
{%- else %}
    SAFE_CAST(src.created_at AS INT64) AS created_at_number
{%- endif %}
  FROM {{ t.adjust }} AS src
{%- if adjust_partition %}
  {#- Only the partitions the read window can be in (adjust_partition_column): rows of its days,
      late ones up to a day after it, and what else those partitions hold. #}
{%- if adjust_partition.kind == 'timestamp' %}
  WHERE src.{{ adjust_partition.column }} >= TIMESTAMP(@adjust_partition_from)
    AND src.{{ adjust_partition.column }} < TIMESTAMP(@adjust_partition_to)
{%- elif adjust_partition.kind == 'naive_timestamp' %}
  WHERE src.{{ adjust_partition.column }} >= DATETIME(@adjust_partition_from)
    AND src.{{ adjust_partition.column }} < DATETIME(@adjust_partition_to)
{%- else %}
  WHERE src.{{ adjust_partition.column }} >= @adjust_partition_from
    AND src.{{ adjust_partition.column }} < @adjust_partition_to
{%- endif %}
{%- endif %}
),
timed AS (
  SELECT
    *,
    CASE
      WHEN created_at_number IS NULL THEN 'invalid_created_at'
      WHEN created_at_number >= @created_at_floor AND created_at_number <= @created_at_ceiling THEN NULL
      WHEN DIV(created_at_number, 1000) >= @created_at_floor AND DIV(created_at_number, 1000) <= @created_at_ceiling
        THEN 'created_at_in_milliseconds'
      ELSE 'implausible_created_at'
    END AS created_at_problem
  FROM source
),
dated AS (
  SELECT
    *,
    CASE
      WHEN created_at_problem IS NULL THEN created_at_number
      WHEN created_at_problem = 'created_at_in_milliseconds' THEN DIV(created_at_number, 1000)
    END AS created_at_seconds
  FROM timed
),
scoped AS (
  SELECT
    *,
    {{ m.trim_lower('activity_kind') }} AS kind,
    {{ m.trim_lower('os_name') }} AS platform
  FROM dated
  WHERE {{ m.trim_lower('activity_kind') }} IN UNNEST(@activity_kinds)
    AND (IFNULL(TRIM(environment), '') = '' OR {{ m.trim_lower('environment') }} IN UNNEST(@environments))
    AND (
      created_at_seconds IS NULL
      OR (created_at_seconds >= @read_start AND created_at_seconds < @day_end)
    )
),
validated AS (
  SELECT
    *,
    CASE
      WHEN created_at_problem IS NOT NULL THEN created_at_problem
      WHEN IFNULL(TRIM(adid), '') = '' THEN 'missing_adid'
      WHEN platform IS NULL OR platform NOT IN ('ios', 'android') THEN 'invalid_os_name'
    END AS reject_reason,
    TO_HEX(MD5(CONCAT(
{%- for column in adjust_columns %}
      {{ m.fingerprint_part(column) }}{% if not loop.last %}, '\x1f',{% endif %}
{%- endfor %}
    ))) AS fingerprint,
    {{ m.adjust_id('idfa') }} AS match_idfa,
    {{ m.adjust_id('idfv') }} AS match_idfv,
    {{ m.adjust_id('gps_adid') }} AS match_gps_adid,
    {{ m.adjust_id('external_device_id') }} AS match_external_device_id
  FROM scoped
),
keyed AS (
  SELECT
    *,
    IF(
      reject_reason IS NULL,
      CONCAT({{ m.key_part('IFNULL(TRIM(app_token), \'\')') }}, '|', {{ m.key_part('kind') }}, '|',
             {{ m.key_part('TRIM(adid)') }}, '|', CAST(created_at_seconds AS STRING)),
      NULL
    ) AS row_key
  FROM validated
)
-- Copies of a valid row share its row_key; copies of an invalid row, its whole content.
SELECT
  *,
  ROW_NUMBER() OVER (PARTITION BY IFNULL(row_key, fingerprint) ORDER BY fingerprint) AS copy_number
FROM keyed
