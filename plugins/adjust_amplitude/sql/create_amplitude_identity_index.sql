-- The Amplitude export boiled down to what matching needs: one row per identifier (normalised, as
-- amplitude_key) and device, with the device's first event carrying it (and that event's user id)
-- and its last. Each run merges in only the events it has not read yet (amplitude_index_runs), so
-- the export is read about once per event; it grows with devices, not with events.
CREATE TABLE IF NOT EXISTS {{ t.identity_index }} (
  amplitude_key STRING NOT NULL,
  id STRING NOT NULL,
  device_id STRING,
  user_id STRING,
  first_event_time TIMESTAMP NOT NULL,
  last_event_time TIMESTAMP NOT NULL
)
CLUSTER BY amplitude_key, id
