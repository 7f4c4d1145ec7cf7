{% import '_macros.sql.j2' as m -%}
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
  {{ m.stored_column_defs('text') }}
)
PARTITION BY adjust_day
CLUSTER BY stage, fingerprint
