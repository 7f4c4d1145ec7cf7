-- Append rows to a table in one statement: @rows is an array of structs named like the columns
-- (the DuckDB backend's append; BigQuery streams the rows instead, with no job).
INSERT INTO {{ table }} ({{ columns | join(', ') }})
SELECT {% for column in columns %}appended.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}
FROM UNNEST(@rows) AS appended
