{% import '_macros.sql.j2' as m -%}
-- Recompute the summary for Adjust days [@from_day, @run_day] from the ledger and the validation
-- rejects in one atomic statement. Groups change when windows close (report_day goes from NULL
-- to the run day), so groups of those days that no longer have a source row are deleted.
MERGE {{ t.discrepancy_summary }} AS target
USING (
  WITH ledger_rows AS (
    SELECT
      adjust_day, closed_run_day AS report_day, platform,
      IFNULL(country, '') AS country,
      IFNULL(network_name, '') AS network_name,
      IFNULL(campaign_name, '') AS campaign_name,
      IFNULL(adgroup_name, '') AS adgroup_name,
      IFNULL(creative_name, '') AS creative_name,
      status
    FROM {{ t.ledger }}
    WHERE adjust_day BETWEEN @from_day AND @run_day
  ),
  invalid_rows AS (
    SELECT
      adjust_day, closed_run_day AS report_day, IFNULL({{ m.trim_lower('os_name') }}, '') AS platform,
      IFNULL(country, '') AS country,
      IFNULL(network_name, '') AS network_name,
      IFNULL(campaign_name, '') AS campaign_name,
      IFNULL(adgroup_name, '') AS adgroup_name,
      IFNULL(creative_name, '') AS creative_name,
      'rejected' AS status
    FROM {{ t.rejected }}
    WHERE stage = 'validation' AND adjust_day BETWEEN @from_day AND @run_day
  ),
  counted AS (
    SELECT
      adjust_day, report_day, platform, country, network_name, campaign_name, adgroup_name, creative_name,
      COUNT(*) AS adjust_rows,
      COUNTIF(status IN ('matched', 'sent')) AS matched,
      COUNTIF(status = 'sent') AS sent,
      COUNTIF(status = 'unmatched') AS unmatched,
      COUNTIF(status = 'no_identifier') AS no_identifier,
      COUNTIF(status = 'pending') AS pending,
      COUNTIF(status = 'rejected') AS rejected
    FROM (SELECT * FROM ledger_rows UNION ALL SELECT * FROM invalid_rows)
    GROUP BY adjust_day, report_day, platform, country, network_name, campaign_name, adgroup_name, creative_name
  )
  SELECT
    counted.*,
    SAFE_DIVIDE(matched, matched + unmatched + no_identifier) AS match_rate
  FROM counted
) AS fresh
ON target.adjust_day = fresh.adjust_day
  AND target.adjust_day BETWEEN @from_day AND @run_day
  AND target.report_day IS NOT DISTINCT FROM fresh.report_day
  AND target.platform = fresh.platform
  AND target.country = fresh.country
  AND target.network_name = fresh.network_name
  AND target.campaign_name = fresh.campaign_name
  AND target.adgroup_name = fresh.adgroup_name
  AND target.creative_name = fresh.creative_name
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
  adjust_day, report_day, platform, country, network_name, campaign_name, adgroup_name, creative_name,
  adjust_rows, matched, sent, unmatched, no_identifier, pending, rejected, match_rate
) VALUES (
  fresh.adjust_day, fresh.report_day, fresh.platform, fresh.country, fresh.network_name, fresh.campaign_name,
  fresh.adgroup_name, fresh.creative_name, fresh.adjust_rows, fresh.matched, fresh.sent, fresh.unmatched,
  fresh.no_identifier, fresh.pending, fresh.rejected, fresh.match_rate
)
WHEN NOT MATCHED BY SOURCE AND target.adjust_day BETWEEN @from_day AND @run_day THEN DELETE
