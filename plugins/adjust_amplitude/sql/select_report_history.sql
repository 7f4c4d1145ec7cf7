-- Totals of each report from @from_day to @run_day per network and campaign, to compare a report
-- with the previous one and with the reports of the 30 days before it, overall and per group.
SELECT
  report_day,
  network_name,
  campaign_name,
  SUM(adjust_rows) AS adjust_rows,
  SUM(matched) AS matched,
  SUM(sent) AS sent,
  SUM(unmatched) AS unmatched,
  SUM(no_identifier) AS no_identifier,
  SUM(rejected) AS rejected
FROM {{ t.discrepancy_summary }}
WHERE adjust_day >= @open_from_day AND report_day BETWEEN @from_day AND @run_day
GROUP BY report_day, network_name, campaign_name
ORDER BY report_day, network_name, campaign_name
