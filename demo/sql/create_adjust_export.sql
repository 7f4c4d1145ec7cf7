-- DuckDB: Adjust's export loaded from its CSV upload, each column text unless `typed` names its type.
CREATE OR REPLACE TABLE {{ table }} (
{%- for name in columns %}
  {{ name }} {{ typed.get(name, 'VARCHAR') }}{% if not loop.last %},{% endif %}
{%- endfor %}
)
