-- Recompute the summary for Adjust days [from_day, @run_day] from the ledger and the validation
-- rejects in one atomic statement. from_day is @summary_from_day or the oldest day of a row this
-- run matched, closed or sent, whichever is earlier. Ledger and rejected rows are never deleted
-- and never change group, so a group once counted always has a source row: nothing to delete.
MERGE {{ t.discrepancy_summary }} AS target
USING (
  WITH bounds AS (
    SELECT LEAST(@summary_from_day, IFNULL(MIN(adjust_day), @summary_from_day)) AS from_day
    FROM {{ t.ledger }}
    WHERE matched_run_day = @run_day OR closed_run_day = @run_day OR sent_run_day = @run_day
  ),
  ledger_rows AS (
    SELECT
      adjust_day, platform,
      IFNULL(network_name, '') AS network_name,
      IFNULL(campaign_name, '') AS campaign_name,
      status
    FROM {{ t.ledger }}
    WHERE adjust_day BETWEEN (SELECT from_day FROM bounds) AND @run_day
  ),
  invalid_rows AS (
    SELECT
      adjust_day, IFNULL(LOWER(TRIM(os_name)), '') AS platform,
      IFNULL(network_name, '') AS network_name,
      IFNULL(campaign_name, '') AS campaign_name,
      'rejected' AS status
    FROM {{ t.rejected }}
    WHERE stage = 'validation' AND adjust_day BETWEEN (SELECT from_day FROM bounds) AND @run_day
  ),
  counted AS (
    SELECT
      adjust_day, platform, network_name, campaign_name,
      COUNT(*) AS adjust_rows,
      COUNTIF(status IN ('matched', 'sent')) AS matched,
      COUNTIF(status = 'sent') AS sent,
      COUNTIF(status = 'unmatched') AS unmatched,
      COUNTIF(status = 'no_identifier') AS no_identifier,
      COUNTIF(status = 'pending') AS pending,
      COUNTIF(status = 'rejected') AS rejected
    FROM (SELECT * FROM ledger_rows UNION ALL SELECT * FROM invalid_rows)
    GROUP BY adjust_day, platform, network_name, campaign_name
  )
  SELECT
    counted.*,
    SAFE_DIVIDE(matched, matched + unmatched + no_identifier) AS match_rate
  FROM counted
) AS fresh
ON target.adjust_day = fresh.adjust_day
  AND target.platform = fresh.platform
  AND target.network_name = fresh.network_name
  AND target.campaign_name = fresh.campaign_name
WHEN MATCHED THEN UPDATE SET
  adjust_rows = fresh.adjust_rows,
  matched = fresh.matched,
  sent = fresh.sent,
  unmatched = fresh.unmatched,
  no_identifier = fresh.no_identifier,
  pending = fresh.pending,
  rejected = fresh.rejected,
  match_rate = fresh.match_rate
WHEN NOT MATCHED BY TARGET THEN INSERT (
  adjust_day, platform, network_name, campaign_name, adjust_rows, matched, sent, unmatched,
  no_identifier, pending, rejected, match_rate
) VALUES (
  fresh.adjust_day, fresh.platform, fresh.network_name, fresh.campaign_name, fresh.adjust_rows,
  fresh.matched, fresh.sent, fresh.unmatched, fresh.no_identifier, fresh.pending, fresh.rejected,
  fresh.match_rate
)
