-- The index now holds the events up to @newest_event (Unix seconds; NULL when the export is empty,
-- sent untyped, hence the CAST). One row per run: a retry of the step replaces its run's row.
MERGE {{ t.index_runs }} AS target
USING (
  SELECT
    @run_day AS run_day, @run_id AS run_id, @rebuilt AS rebuilt, TIMESTAMP_SECONDS(@read_after) AS read_after,
    TIMESTAMP_SECONDS(CAST(@newest_event AS INT64)) AS newest_event_time
) AS fresh
ON target.run_day = fresh.run_day AND target.run_id IS NOT DISTINCT FROM fresh.run_id
WHEN MATCHED THEN UPDATE SET
  rebuilt = fresh.rebuilt, read_after = fresh.read_after, newest_event_time = fresh.newest_event_time,
  updated_at = CURRENT_TIMESTAMP()
WHEN NOT MATCHED THEN INSERT (run_day, run_id, rebuilt, read_after, newest_event_time, updated_at)
VALUES (fresh.run_day, fresh.run_id, fresh.rebuilt, fresh.read_after, fresh.newest_event_time, CURRENT_TIMESTAMP())
