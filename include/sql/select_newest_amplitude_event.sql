-- How far the Amplitude export reaches: windows past this point cannot be closed yet.
SELECT MAX(event_time) AS newest_event_time
FROM {{ t.amplitude }}
