-- Where each message of a report stands: which this task holds, which are told and by whom.
SELECT target, message, status, run_id, claimed_by, attempts, error
FROM {{ t.notifications }}
WHERE report_day = @report_day
ORDER BY message, target
