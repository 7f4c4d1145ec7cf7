{% import '_macros.sql.j2' as m -%}
-- The report's CSV: the rows the run's day closed without a match, every cell as people see it.
-- Times are ISO 8601 in UTC; Adjust's Unix-seconds columns (created_at, installed_at,
-- reattributed_at) too, where they hold whole seconds (0, Adjust's "no time", shows empty; other
-- text as it came). A cell a spreadsheet would run as a formula (= + - @ tab CR first) gets a
-- leading ' so Excel and Google Sheets show it as text. An empty cell is NULL, written empty.
-- With @mask_identifiers (report_identifiers = masked) the advertising and device ids show only
-- their last 4 characters, and row_key (which holds Adjust's adid) is its MD5 in hex: engineers
-- find the row with TO_HEX(MD5(row_key)) in discrepancy_rows, which keeps every value whole.
{#- Adjust's time columns end in _at, which the names of their trimmed text and seconds leave out;
    discrepancy_rows keeps created_at as the ledger does, a number. #}
WITH closed AS (
  SELECT *
  {%- for column in adjust.columns if column.unix_seconds and column.ledger_type == 'STRING' -%}
  , TRIM({{ column.name }}) AS {{ column.name[:-3] }}_trimmed
  {%- endfor %}
  FROM {{ t.discrepancy_rows }}
  WHERE closed_run_day = @run_day
),
seconds AS (
  SELECT
    *
{%- for column in adjust.columns if column.unix_seconds %},
{%- if column.ledger_type == 'STRING' %}
    {{ m.epoch_seconds(column.name[:-3] ~ '_trimmed') }} AS {{ column.name[:-3] }}_seconds
{%- else %}
    IF({{ column.name }} >= 0, {{ column.name }}, NULL) AS {{ column.name[:-3] }}_seconds
{%- endif %}
{%- endfor %}
  FROM closed
)
SELECT
  IF(@mask_identifiers, TO_HEX(MD5(row_key)), {{ m.csv_text('row_key') }}) AS row_key,
  {{ m.csv_text('reason') }} AS reason,
  {{ m.csv_time('window_closed_at') }} AS window_closed_at,
  {{ m.csv_time('amplitude_seen_at') }} AS amplitude_seen_at,
  CAST(closed_run_day AS STRING) AS closed_run_day,
  {{ m.csv_text('closed_by_run_id') }} AS closed_by_run_id,
  CAST(adjust_day AS STRING) AS adjust_day
{%- for column in adjust.columns %},
{%- if column.unix_seconds and column.ledger_type == 'STRING' %}
  {{ m.csv_epoch(column.name, column.name[:-3] ~ '_seconds') }} AS {{ column.name }}
{%- elif column.unix_seconds %}
  {{ m.csv_epoch('CAST(' ~ column.name ~ ' AS STRING)', column.name[:-3] ~ '_seconds') }} AS {{ column.name }}
{%- elif column.device_id %}
  {{ m.csv_identifier(column.name) }} AS {{ column.name }}
{%- else %}
  {{ m.csv_text(column.name) }} AS {{ column.name }}
{%- endif %}
{%- endfor %}
FROM seconds AS s
ORDER BY s.adjust_day, s.created_at, s.row_key
