-- A push that stops on an error gives back its claims on the rows it has not sent, once every
-- request it made was answered and journalled (and the journal applied): another run then sends
-- them at once instead of waiting claim_ttl_seconds for the claims to lapse.
UPDATE {{ t.ledger }}
SET claimed_by = NULL, claimed_at = NULL
WHERE adjust_day BETWEEN @open_from_day AND @run_day
  AND status = 'matched'
  AND claimed_by = @claimed_by
