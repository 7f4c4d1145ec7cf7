-- Counts per Adjust day x report x platform x country x network x campaign x ad group x creative,
-- recomputed from the ledger by each run. report_day is the run day whose report closed the rows'
-- windows; NULL while some are still open (those rows count as pending). Text dimensions are ''
-- when Adjust left them empty, so every group has a key.
CREATE TABLE IF NOT EXISTS {{ t.discrepancy_summary }} (
  adjust_day DATE NOT NULL,
  report_day DATE,
  platform STRING NOT NULL,
  country STRING NOT NULL,
  network_name STRING NOT NULL,
  campaign_name STRING NOT NULL,
  adgroup_name STRING NOT NULL,
  creative_name STRING NOT NULL,
  adjust_rows INT64 NOT NULL,
  matched INT64 NOT NULL,
  sent INT64 NOT NULL,
  unmatched INT64 NOT NULL,
  no_identifier INT64 NOT NULL,
  pending INT64 NOT NULL,
  rejected INT64 NOT NULL,
  match_rate FLOAT64
)
PARTITION BY adjust_day
CLUSTER BY report_day, network_name
