-- One rejected row, to show as an example of its reason.
SELECT reason, adjust_day, app_token, activity_kind, created_at, os_name, environment, network_name
FROM {{ t.rejected }}
WHERE adjust_day >= @open_from_day AND stage = 'validation' AND fingerprint = @fingerprint
