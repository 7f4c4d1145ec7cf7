-- New deduplicated valid rows enter the ledger as pending; rows already there are left alone,
-- so late re-deliveries and re-runs never reset a row that was sent or closed. A row an earlier run
-- rejected for a created_at too far in the future (the ceiling moves with the clock) stays rejected.
MERGE {{ t.ledger }} AS ledger
USING (
  SELECT *
  FROM {{ t.stage }}
  WHERE reject_reason IS NULL AND copy_number = 1
    AND fingerprint NOT IN (
      SELECT fingerprint FROM {{ t.rejected }}
      WHERE stage = 'validation' AND reason = 'implausible_created_at' AND adjust_day >= @open_from_day
    )
) AS fresh
ON ledger.row_key = fresh.row_key AND ledger.adjust_day >= @open_from_day
WHEN NOT MATCHED THEN INSERT (
  row_key, adjust_day, app_token, activity_kind, adid, created_at, platform, environment, os_name,
  {% for column in adjust.ledger_first %}{{ column.name }}, {% endfor %}has_identifier, status, first_seen_run_day
  {%- for column in adjust.ledger_added %}, {{ column.name }}{% endfor %}
) VALUES (
  fresh.row_key, DATE(TIMESTAMP_SECONDS(fresh.created_at_seconds)), fresh.app_token, fresh.kind, TRIM(fresh.adid),
  fresh.created_at_seconds, fresh.platform, fresh.environment, fresh.os_name,
  {% for column in adjust.ledger_first %}fresh.{{ column.name }}, {% endfor %}
  {#- The match_* columns in the ledger's order. #}
  COALESCE({% for column in adjust.first + adjust.added if column.identifier %}fresh.match_{{ column.name }}{% if not loop.last %}, {% endif %}{% endfor %}) IS NOT NULL,
  'pending', @run_day
  {%- for column in adjust.ledger_added %}, fresh.{{ column.name }}{% endfor %}
)
