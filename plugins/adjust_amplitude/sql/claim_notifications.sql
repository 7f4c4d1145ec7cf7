-- Claim @message of @report_day for each of @targets in one atomic statement. A row is free when
-- it is new, when it failed before (a later run tries again), when the claim is this task's own
-- (a retry of the same run takes over at once), or when it is older than @claim_ttl_seconds (a
-- killed run). A message once told is never claimed again.
MERGE {{ t.notifications }} AS log
USING (SELECT target FROM UNNEST(@targets) AS target) AS wanted
ON log.report_day = @report_day AND log.message = @message AND log.target = wanted.target
WHEN MATCHED AND log.status != 'told' AND (
  log.status = 'failed'
  OR STARTS_WITH(log.claimed_by, @claim_prefix)
  OR log.claimed_at <= TIMESTAMP_SECONDS(@now - @claim_ttl_seconds)
) THEN UPDATE SET
  status = 'sending', run_id = @run_id, claimed_by = @claimed_by, claimed_at = TIMESTAMP_SECONDS(@now)
WHEN NOT MATCHED THEN INSERT (report_day, target, message, status, run_id, claimed_by, claimed_at, attempts)
VALUES (@report_day, wanted.target, @message, 'sending', @run_id, @claimed_by, TIMESTAMP_SECONDS(@now), 0)
