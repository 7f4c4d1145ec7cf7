-- The summary groups of one report: the rows whose windows the run's day closed.
SELECT
  adjust_day, platform, country, network_name, campaign_name, adgroup_name, creative_name,
  adjust_rows, matched, sent, unmatched, no_identifier, pending, rejected
FROM {{ t.discrepancy_summary }}
WHERE adjust_day >= @open_from_day AND report_day = @run_day
ORDER BY adjust_day, platform, country, network_name, campaign_name, adgroup_name, creative_name
