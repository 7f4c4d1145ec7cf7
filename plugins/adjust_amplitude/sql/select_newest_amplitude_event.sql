-- How far the Amplitude export reaches past @read_after, in Unix seconds (NULL: no event after it).
-- Only the partitions after @read_after are read.
SELECT UNIX_SECONDS(MAX(CAST(event_time AS TIMESTAMP))) AS newest_event_seconds
FROM {{ t.amplitude }}
WHERE CAST(event_time AS TIMESTAMP) > TIMESTAMP_SECONDS(@read_after)
