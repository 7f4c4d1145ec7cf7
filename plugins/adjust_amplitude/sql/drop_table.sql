-- Drop a scratch table (or a sample table being replaced).
DROP TABLE IF EXISTS {{ table }}
