{% import '_macros.sql.j2' as m -%}
-- The events in (@read_after, @read_until] merged into the identity index: a device's first event
-- moves earlier (a late upload), its last one later. Merging the same events again changes nothing,
-- so runs re-reading the late-upload margin, or running side by side, agree.
MERGE {{ t.identity_index }} AS target
USING (
  {{ m.identity_rows(t.amplitude) }}
) AS fresh
ON target.amplitude_key = fresh.amplitude_key AND target.id = fresh.id
  AND target.device_id IS NOT DISTINCT FROM fresh.device_id
WHEN MATCHED AND (
  fresh.first_event_time < target.first_event_time
  OR (fresh.first_event_time = target.first_event_time AND {{ m.sorts_before('fresh.user_id', 'target.user_id') }})
  OR fresh.last_event_time > target.last_event_time
) THEN UPDATE SET
  user_id = IF(
    fresh.first_event_time < target.first_event_time
      OR (fresh.first_event_time = target.first_event_time AND {{ m.sorts_before('fresh.user_id', 'target.user_id') }}),
    fresh.user_id, target.user_id),
  first_event_time = LEAST(target.first_event_time, fresh.first_event_time),
  last_event_time = GREATEST(target.last_event_time, fresh.last_event_time)
WHEN NOT MATCHED THEN INSERT (amplitude_key, id, device_id, user_id, first_event_time, last_event_time)
VALUES (fresh.amplitude_key, fresh.id, fresh.device_id, fresh.user_id, fresh.first_event_time, fresh.last_event_time)
