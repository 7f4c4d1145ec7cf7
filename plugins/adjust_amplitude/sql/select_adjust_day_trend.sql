-- Totals per Adjust day from @from_day to @to_day for the trend charts; pending > 0 marks a day
-- whose windows are not all closed yet.
SELECT
  adjust_day,
  SUM(adjust_rows) AS adjust_rows,
  SUM(matched) AS matched,
  SUM(unmatched) AS unmatched,
  SUM(no_identifier) AS no_identifier,
  SUM(pending) AS pending,
  SUM(rejected) AS rejected
FROM {{ t.discrepancy_summary }}
WHERE adjust_day BETWEEN @from_day AND @to_day
GROUP BY adjust_day
ORDER BY adjust_day
