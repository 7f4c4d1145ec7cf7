-- DuckDB (the demo's and the tests' warehouse): Amplitude's Event table, as vendor_schemas lists it.
CREATE OR REPLACE TABLE {{ table }} (
{%- for name, _, duckdb_type in columns %}
  {{ name }} {{ duckdb_type }}{% if not loop.last %},{% endif %}
{%- endfor %}
)
