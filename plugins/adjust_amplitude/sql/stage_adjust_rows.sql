{% import '_macros.sql.j2' as m -%}
{#- The texts the rules compare, trimmed once (trimmed): the row key's adid and app_token, and the identifiers. -#}
{% set trimmed_columns = ['adid', 'app_token'] + (adjust.columns | selectattr('identifier') | map(attribute='name') | list) -%}
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
{%- for column in adjust.read %}
    {{ m.source_text(column.name, present) }} AS {{ column.name }},
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
    TRIM(activity_kind) AS activity_kind_trimmed,
    TRIM(environment) AS environment_trimmed,
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
    END AS created_at_seconds,
    {{ m.lower_ascii('activity_kind_trimmed') }} AS kind
  FROM timed
),
scoped AS (
  SELECT *
  FROM dated
  WHERE kind IN UNNEST(@activity_kinds)
    AND (IFNULL(environment_trimmed, '') = '' OR {{ m.lower_ascii('environment_trimmed') }} IN UNNEST(@environments))
    AND (
      created_at_seconds IS NULL
      OR (created_at_seconds >= @read_start AND created_at_seconds < @day_end)
    )
),
trimmed AS (
  {#- Each text the rules compare, trimmed once, and only in the rows in scope: TRIM is costly on
      DuckDB, which must remove Unicode's white space as BigQuery does. #}
  SELECT
    *,
{%- for column in trimmed_columns %}
    TRIM({{ column }}) AS {{ column }}_trimmed,
{%- endfor %}
    {{ m.trim_lower('os_name') }} AS platform
  FROM scoped
),
validated AS (
  SELECT
    *,
    CASE
      WHEN created_at_problem IS NOT NULL THEN created_at_problem
      WHEN IFNULL(adid_trimmed, '') = '' THEN 'missing_adid'
      WHEN platform IS NULL OR platform NOT IN ('ios', 'android') THEN 'invalid_os_name'
    END AS reject_reason,
    TO_HEX(MD5(CONCAT(
{#- A fingerprint tells apart invalid rows, whose content is all they have; the columns added since
    the first version are no part of it, so the rejected rows stored before keep theirs. #}
{%- for column in adjust.read if not column.added_with %}
      {{ m.fingerprint_part(column.name) }}{% if not loop.last %}, '\x1f',{% endif %}
{%- endfor %}
    ))) AS fingerprint,
{%- for column in adjust.columns if column.identifier %}
    {{ m.adjust_id(column.name ~ '_trimmed') }} AS match_{{ column.name }}{% if not loop.last %},{% endif %}
{%- endfor %}
  FROM trimmed
),
keyed AS (
  SELECT
    *,
    IF(
      reject_reason IS NULL,
      CONCAT({{ m.key_part('IFNULL(app_token_trimmed, \'\')') }}, '|', {{ m.key_part('kind') }}, '|',
             {{ m.key_part('adid_trimmed') }}, '|', CAST(created_at_seconds AS STRING)),
      NULL
    ) AS row_key
  FROM validated
)
-- Copies of a valid row share its row_key; copies of an invalid row, its whole content.
SELECT
  * EXCEPT (activity_kind_trimmed, environment_trimmed, {% for column in trimmed_columns %}{{ column }}_trimmed{% if not loop.last %}, {% endif %}{% endfor %}),
  ROW_NUMBER() OVER (PARTITION BY IFNULL(row_key, fingerprint) ORDER BY fingerprint) AS copy_number
FROM keyed
