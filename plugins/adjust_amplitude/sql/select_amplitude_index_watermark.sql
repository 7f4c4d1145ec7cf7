-- How far the identity index reaches, in Unix seconds (NULL before its first build).
SELECT UNIX_SECONDS(MAX(newest_event_time)) AS indexed_through
FROM {{ t.index_runs }}
