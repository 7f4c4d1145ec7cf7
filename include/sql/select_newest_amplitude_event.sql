-- How far the Amplitude export reaches, in Unix seconds: windows past this point cannot be closed yet.
SELECT UNIX_SECONDS(MAX(CAST(event_time AS TIMESTAMP))) AS newest_event_seconds
FROM {{ t.amplitude }}
