-- The output dataset (a schema in DuckDB).
CREATE SCHEMA IF NOT EXISTS {{ dataset }}
