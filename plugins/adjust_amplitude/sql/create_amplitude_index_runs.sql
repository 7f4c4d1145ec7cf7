-- One row per run that updated the identity index: the events it read, (read_after, newest_event_time].
-- The newest newest_event_time is the index's watermark; rebuilt says it read the whole export.
CREATE TABLE IF NOT EXISTS {{ t.index_runs }} (
  run_day DATE NOT NULL,
  run_id STRING,
  rebuilt BOOL NOT NULL,
  read_after TIMESTAMP NOT NULL,
  newest_event_time TIMESTAMP,
  updated_at TIMESTAMP NOT NULL
)
