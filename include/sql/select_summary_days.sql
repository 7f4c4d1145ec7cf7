-- Summary rows for the Adjust days a report covers.
SELECT
  adjust_day, platform, network_name, campaign_name, adjust_rows, matched, sent, unmatched,
  no_identifier, pending, rejected, match_rate
FROM {{ t.discrepancy_summary }}
WHERE adjust_day BETWEEN @from_day AND @to_day
ORDER BY adjust_day, platform, network_name, campaign_name
