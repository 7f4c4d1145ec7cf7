{% import '_macros.sql.j2' as m -%}
-- Every row whose 72-hour window closed without a match, with the Adjust columns as they came.
-- reason: no_amplitude_match, opened_after_window (first Amplitude activity after the window,
-- at amplitude_seen_at) or no_identifier.
CREATE TABLE IF NOT EXISTS {{ t.discrepancy_rows }} (
  row_key STRING NOT NULL,
  reason STRING NOT NULL,
  window_closed_at TIMESTAMP NOT NULL,
  amplitude_seen_at TIMESTAMP,
  closed_run_day DATE NOT NULL,
  closed_by_run_id STRING,
  adjust_day DATE NOT NULL,
  {{ m.stored_column_defs('ledger') }}
)
PARTITION BY closed_run_day
CLUSTER BY reason, row_key
