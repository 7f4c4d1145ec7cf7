{% import '_macros.sql.j2' as m -%}
-- Pending ledger rows created before the end of the run's day are matched when an Amplitude
-- event carrying one of their identifiers happened no later than created_at + window
-- (earlier events count: the user already exists) and no later than @as_of (what the identity
-- index held when the run updated it). The best pair by priority, then the earliest event, wins.
-- An identifier shared by more than @max_devices_per_identifier devices is no match key.
MERGE {{ t.ledger }} AS ledger
USING (
  WITH candidates AS (
    SELECT row_key, created_at{% for column in adjust.columns if column.identifier %}, match_{{ column.name }}{% endfor %}
    FROM {{ t.ledger }}
    WHERE adjust_day BETWEEN @open_from_day AND @run_day
      AND status = 'pending' AND has_identifier AND created_at < @day_end
  ),
  {{ m.identity_lookup('candidates', t.identity_index) }},
  matches AS (
    SELECT
      a.row_key,
      p.match_pair,
      e.user_id AS amplitude_user_id,
      e.device_id AS amplitude_device_id,
      e.first_event_time AS amplitude_event_time
    FROM adjust_ids AS a
    JOIN pairs AS p ON p.adjust_key = a.adjust_key
    JOIN known AS e ON e.amplitude_key = p.amplitude_key AND e.id = a.id
    WHERE NOT e.shared AND UNIX_SECONDS(e.first_event_time) <= a.created_at + @window_seconds
    QUALIFY ROW_NUMBER() OVER (
      PARTITION BY a.row_key
      ORDER BY p.priority, e.first_event_time, e.device_id, e.user_id
    ) = 1
  )
  SELECT * FROM matches
) AS found
ON ledger.row_key = found.row_key AND ledger.adjust_day BETWEEN @open_from_day AND @run_day
WHEN MATCHED AND ledger.status = 'pending' THEN UPDATE SET
  status = 'matched',
  match_pair = found.match_pair,
  amplitude_user_id = found.amplitude_user_id,
  amplitude_device_id = found.amplitude_device_id,
  amplitude_event_time = found.amplitude_event_time,
  matched_run_day = @run_day
