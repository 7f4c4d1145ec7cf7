{% import '_macros.sql.j2' as m -%}
-- One row per deduplicated Adjust attribution row and where it stands. claimed_by names the push
-- that holds the right to send a matched row (run id|partition|try), since claimed_at. reopened_at
-- is when a run asked to re-send the row after Amplitude refused it (reopen_rejected_rows): the
-- journal's outcomes for the row count only from then on.
CREATE TABLE IF NOT EXISTS {{ t.ledger }} (
  row_key STRING NOT NULL,
  adjust_day DATE NOT NULL,
  {#- The Adjust columns the rules read, as the rules leave them (adjust_columns: rule); the others
      as they came, from adjust_columns. #}
  app_token STRING,
  activity_kind STRING NOT NULL,
  adid STRING NOT NULL,
  created_at INT64 NOT NULL,
  platform STRING NOT NULL,
  environment STRING,
  os_name STRING,
{%- for column in adjust.ledger_first %}
  {{ column.name }} {{ column.ledger_type }},
{%- endfor %}
  has_identifier BOOL NOT NULL,
  status STRING NOT NULL,
  first_seen_run_day DATE NOT NULL,
  match_pair STRING,
  amplitude_user_id STRING,
  amplitude_device_id STRING,
  amplitude_event_time TIMESTAMP,
  matched_run_day DATE,
  window_closed_at TIMESTAMP,
  closed_run_day DATE,
  closed_by_run_id STRING,
  sent_at TIMESTAMP,
  sent_run_day DATE,
  http_status INT64,
  attempts INT64,
  reject_reason STRING,
  claimed_by STRING,
  claimed_at TIMESTAMP,
  {{ m.added_columns_comment() }}
{%- for column in adjust.ledger_added %}
  {{ column.name }} {{ column.ledger_type }},
{%- endfor %}
  -- Added with the re-sending of refused rows (Param resend_rejected).
  reopened_at TIMESTAMP
)
PARTITION BY adjust_day
CLUSTER BY status, row_key
