{% import '_macros.sql.j2' as m -%}
-- The rows closed by the run's day without a match, copied once into discrepancy_rows with the
-- reason. A row whose identifiers show up in Amplitude only after its window (up to @as_of) is
-- opened_after_window: the device did open the app, but too late for Amplitude to attribute it.
MERGE {{ t.discrepancy_rows }} AS target
USING (
  WITH closed AS (
    SELECT *
    FROM {{ t.ledger }}
    WHERE closed_run_day = @run_day AND status IN ('unmatched', 'no_identifier')
  ),
  adjust_ids AS (
    {{ m.adjust_ids('closed') }}
  ),
  pairs AS (
    {{ m.identifier_pairs() }}
  ),
  events AS (
    {{ m.amplitude_events(t.amplitude) }}
  ),
  amplitude_ids AS (
    {{ m.amplitude_ids('events') }}
  ),
  seen_later AS (
    SELECT a.row_key, MIN(e.event_time) AS amplitude_seen_at
    FROM adjust_ids AS a
    JOIN pairs AS p ON p.adjust_key = a.adjust_key
    JOIN amplitude_ids AS e ON e.amplitude_key = p.amplitude_key AND e.id = a.id
    GROUP BY a.row_key
  )
  SELECT closed.*, seen_later.amplitude_seen_at
  FROM closed
  LEFT JOIN seen_later ON seen_later.row_key = closed.row_key
) AS closed
ON target.row_key = closed.row_key
WHEN NOT MATCHED THEN INSERT (
  row_key, reason, window_closed_at, amplitude_seen_at, closed_run_day, closed_by_run_id, adjust_day,
  app_token, activity_kind, created_at, adid, os_name, environment, idfa, idfv, gps_adid, android_id,
  external_device_id, tracker_name, network_name, campaign_name, adgroup_name, creative_name, country,
  installed_at, reattributed_at
) VALUES (
  closed.row_key,
  CASE
    WHEN closed.status = 'no_identifier' THEN 'no_identifier'
    WHEN closed.amplitude_seen_at IS NOT NULL THEN 'opened_after_window'
    ELSE 'no_amplitude_match'
  END,
  closed.window_closed_at, closed.amplitude_seen_at, closed.closed_run_day, closed.closed_by_run_id, closed.adjust_day,
  closed.app_token, closed.activity_kind, closed.created_at, closed.adid, closed.os_name, closed.environment,
  closed.idfa, closed.idfv, closed.gps_adid, closed.android_id, closed.external_device_id, closed.tracker_name,
  closed.network_name, closed.campaign_name, closed.adgroup_name, closed.creative_name, closed.country,
  closed.installed_at, closed.reattributed_at
)
