-- A nullable column that a later version added to an output table, added in place to a table an
-- earlier version made (BigQuery: a change of the schema only, no row rewritten; rows read NULL).
ALTER TABLE {{ table }} ADD COLUMN IF NOT EXISTS {{ column }} {{ type }}
