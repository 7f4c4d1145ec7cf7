{% import '_macros.sql.j2' as m -%}
-- The rows closed by the run's day without a match, copied once into discrepancy_rows with the
-- reason. A row whose identifiers show up in Amplitude only after its window (up to @as_of) is
-- opened_after_window: the device did open the app, but too late for Amplitude to attribute it.
-- A row whose only identifiers are placeholders is placeholder_identifier; one whose identifiers
-- Amplitude knows only as shared by many devices, shared_identifier.
MERGE {{ t.discrepancy_rows }} AS target
USING (
  WITH closed AS (
    SELECT *
    FROM {{ t.ledger }}
    WHERE adjust_day BETWEEN @open_from_day AND @run_day
      AND closed_run_day = @run_day AND status IN ('unmatched', 'no_identifier')
  ),
  adjust_ids AS (
    {{ m.adjust_ids('closed') }}
  ),
  pairs AS (
    {{ m.identifier_pairs() }}
  ),
  wanted AS (
    {{ m.wanted_identities('adjust_ids', 'pairs') }}
  ),
  known AS (
    {{ m.known_identities(t.identity_index, 'wanted') }}
  ),
  seen AS (
    SELECT a.row_key, MIN(IF(e.shared, NULL, e.first_event_time)) AS amplitude_seen_at, LOGICAL_OR(e.shared) AS shared
    FROM adjust_ids AS a
    JOIN pairs AS p ON p.adjust_key = a.adjust_key
    JOIN known AS e ON e.amplitude_key = p.amplitude_key AND e.id = a.id
    GROUP BY a.row_key
  )
  SELECT
    closed.*,
    seen.amplitude_seen_at,
    IFNULL(seen.shared, FALSE) AS shared,
    -- Only a row without identifiers can be left with placeholders (and the test is costly).
    IF(
      closed.status = 'no_identifier',
      {{ m.is_placeholder('TRIM(closed.idfa)') }} OR {{ m.is_placeholder('TRIM(closed.idfv)') }}
        OR {{ m.is_placeholder('TRIM(closed.gps_adid)') }} OR {{ m.is_placeholder('TRIM(closed.google_app_set_id)') }}
        OR {{ m.is_placeholder('TRIM(closed.external_device_id)') }},
      FALSE
    ) AS placeholder
  FROM closed
  LEFT JOIN seen ON seen.row_key = closed.row_key
) AS closed
ON target.row_key = closed.row_key AND target.closed_run_day = @run_day
WHEN NOT MATCHED THEN INSERT (
  row_key, reason, window_closed_at, amplitude_seen_at, closed_run_day, closed_by_run_id, adjust_day,
  app_token, activity_kind, created_at, adid, os_name, environment, idfa, idfv, gps_adid, android_id,
  external_device_id, tracker_name, network_name, campaign_name, adgroup_name, creative_name, country,
  installed_at, reattributed_at, google_app_set_id, att_status
) VALUES (
  closed.row_key,
  CASE
    WHEN closed.status = 'no_identifier' AND closed.placeholder THEN 'placeholder_identifier'
    WHEN closed.status = 'no_identifier' THEN 'no_identifier'
    WHEN closed.amplitude_seen_at IS NOT NULL THEN 'opened_after_window'
    WHEN closed.shared THEN 'shared_identifier'
    ELSE 'no_amplitude_match'
  END,
  closed.window_closed_at, closed.amplitude_seen_at, closed.closed_run_day, closed.closed_by_run_id, closed.adjust_day,
  closed.app_token, closed.activity_kind, closed.created_at, closed.adid, closed.os_name, closed.environment,
  closed.idfa, closed.idfv, closed.gps_adid, closed.android_id, closed.external_device_id, closed.tracker_name,
  closed.network_name, closed.campaign_name, closed.adgroup_name, closed.creative_name, closed.country,
  closed.installed_at, closed.reattributed_at, closed.google_app_set_id, closed.att_status
)
