{% import '_macros.sql.j2' as m -%}
-- The identity index made anew from the whole export (events up to @read_until), in one statement:
-- a run reading the index meanwhile sees the old one or the new one, never half of either.
CREATE OR REPLACE TABLE {{ t.identity_index }}
CLUSTER BY amplitude_key, id
AS
{{ m.identity_rows(t.amplitude) }}
