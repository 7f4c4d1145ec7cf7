-- The outcome of one message to one target, written by the holder of its claim only.
UPDATE {{ t.notifications }}
SET status = @status, attempts = @attempts, subject = @subject, error = @error, finished_at = CURRENT_TIMESTAMP()
WHERE report_day = @report_day AND target = @target AND message = @message AND claimed_by = @claimed_by
