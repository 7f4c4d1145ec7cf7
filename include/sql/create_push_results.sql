-- Scratch table for one flush of push outcomes; replaced on every flush.
CREATE OR REPLACE TABLE {{ t.push_results }} (
  row_key STRING NOT NULL,
  outcome STRING NOT NULL,
  sent_at TIMESTAMP,
  http_status INT64,
  attempts INT64 NOT NULL,
  reject_reason STRING,
  response_body STRING
)
