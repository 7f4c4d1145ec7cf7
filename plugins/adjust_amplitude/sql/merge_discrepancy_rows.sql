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
  {{ m.identity_lookup('closed', t.identity_index) }},
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
      {% for column in adjust.columns if column.identifier -%}
      {{ m.is_placeholder('TRIM(closed.' ~ column.name ~ ')') }}{% if not loop.last %} OR {% endif %}
      {%- endfor %},
      FALSE
    ) AS placeholder
  FROM closed
  LEFT JOIN seen ON seen.row_key = closed.row_key
) AS closed
ON target.row_key = closed.row_key AND target.closed_run_day = @run_day
WHEN NOT MATCHED THEN INSERT (
  row_key, reason, window_closed_at, amplitude_seen_at, closed_run_day, closed_by_run_id, adjust_day,
  {{ m.stored_columns() }}
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
  {{ m.stored_values('closed', false) }}
)
