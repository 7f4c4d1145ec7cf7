-- Counts per Adjust day x platform x network x campaign, recomputed from the ledger by each run.
CREATE TABLE IF NOT EXISTS {{ t.discrepancy_summary }} (
  adjust_day DATE NOT NULL,
  platform STRING NOT NULL,
  network_name STRING NOT NULL,
  campaign_name STRING NOT NULL,
  adjust_rows INT64 NOT NULL,
  matched INT64 NOT NULL,
  sent INT64 NOT NULL,
  unmatched INT64 NOT NULL,
  no_identifier INT64 NOT NULL,
  pending INT64 NOT NULL,
  rejected INT64 NOT NULL,
  match_rate FLOAT64
)
