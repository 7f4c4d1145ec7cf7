{% import '_macros.sql.j2' as m -%}
-- Why the rows of each report from @from_day to @run_day did not reach Amplitude, per reason,
-- platform, network and campaign: rows closed without a match, rows Amplitude refused or that had
-- nothing it can attribute by, and invalid export rows. The run's own report lists its reasons;
-- the earlier ones show which reasons grew, and which drove a group's drop. Network and campaign
-- are keyed as in discrepancy_summary ('' when Adjust left them empty).
SELECT report_day, outcome, reason, platform, network_name, campaign_name, COUNT(*) AS row_count
FROM (
  SELECT
    closed_run_day AS report_day,
    IF(reason IN ('no_identifier', 'placeholder_identifier'), 'no_identifier', 'unmatched') AS outcome,
    reason,
    IFNULL({{ m.trim_lower('os_name') }}, '') AS platform,
    IFNULL(network_name, '') AS network_name,
    IFNULL(campaign_name, '') AS campaign_name
  FROM {{ t.discrepancy_rows }}
  WHERE closed_run_day BETWEEN @from_day AND @run_day
  UNION ALL
  SELECT closed_run_day, 'rejected', IFNULL(reject_reason, 'unknown'), platform, IFNULL(network_name, ''), IFNULL(campaign_name, '')
  FROM {{ t.ledger }}
  WHERE adjust_day >= @open_from_day AND closed_run_day BETWEEN @from_day AND @run_day AND status = 'rejected'
  UNION ALL
  SELECT
    closed_run_day, 'rejected', reason, IFNULL({{ m.trim_lower('os_name') }}, ''), IFNULL(network_name, ''),
    IFNULL(campaign_name, '')
  FROM {{ t.rejected }}
  WHERE adjust_day >= @open_from_day AND stage = 'validation' AND closed_run_day BETWEEN @from_day AND @run_day
)
GROUP BY report_day, outcome, reason, platform, network_name, campaign_name
ORDER BY report_day, outcome, reason, platform, network_name, campaign_name
