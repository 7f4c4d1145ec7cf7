-- Append one row of named values to a table (the DuckDB backend's bulk path; BigQuery loads JSON).
INSERT INTO {{ table }} ({{ columns | join(', ') }})
VALUES ({% for column in columns %}@{{ column }}{% if not loop.last %}, {% endif %}{% endfor %})
