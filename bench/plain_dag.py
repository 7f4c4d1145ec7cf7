"""The baseline of `make bench`: what a team would write first, one task that does the whole job in
DuckDB. It reads the day's Adjust attribution rows, dedupes them, matches them against the
Amplitude export by the same identifier pairs as the sync, and writes the matched rows' events to
an outbox file, as a dry run of the sync does. No ledger, no validation, no windows, no report, no
exactly-once bookkeeping: the least any version of this job must do.

`make bench` copies this file into a DAG folder of its own beside the sync's DAG and runs both
with `airflow dags test` on copies of one warehouse.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import BaseHook, dag, get_current_context, task

ZERO = "00000000-0000-0000-0000-000000000000"


@dag(dag_id="plain_adjust_amplitude", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
     catchup=False, tags=["bench"])
def plain_adjust_amplitude():
    @task
    def sync() -> int:
        import os

        import duckdb

        context = get_current_context()
        day = context["logical_date"].astimezone(dt.timezone.utc).date()
        start = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc).timestamp())
        path = BaseHook.get_connection("adjust_amplitude_warehouse").host
        outbox = os.path.join(os.path.dirname(path), f"plain_outbox_{day}.jsonl")
        with duckdb.connect(path) as con:
            # The day's attribution rows, one per device, activity and second.
            con.execute(f"""
                CREATE TEMP TABLE day_rows AS
                SELECT * EXCLUDE (copy) FROM (
                  SELECT *, CAST(created_at AS BIGINT) AS created, lower(trim(os_name)) AS platform,
                         row_number() OVER (PARTITION BY app_token, activity_kind, adid, created_at) AS copy
                  FROM adjust.raw_events
                  WHERE activity_kind IN ('install', 'reattribution') AND coalesce(environment, '') IN ('', 'production')
                    AND TRY_CAST(created_at AS BIGINT) >= {start} AND TRY_CAST(created_at AS BIGINT) < {start + 86400})
                WHERE copy = 1""")
            # Each row's identifiers, upper-cased, under the Amplitude column they are compared with.
            con.execute(f"""
                CREATE TEMP TABLE wanted AS
                SELECT adid, created, key, upper(trim(id)) AS id FROM (
                  SELECT adid, created, 'device_id' AS key, idfv AS id FROM day_rows
                  UNION ALL SELECT adid, created, 'idfa', idfa FROM day_rows
                  UNION ALL SELECT adid, created, 'device_id', idfa FROM day_rows
                  UNION ALL SELECT adid, created, 'adid', gps_adid FROM day_rows
                  UNION ALL SELECT adid, created, 'device_id', gps_adid FROM day_rows
                  UNION ALL SELECT adid, created, 'device_id', google_app_set_id FROM day_rows
                  UNION ALL SELECT adid, created, 'device_id', google_app_set_id || 'S' FROM day_rows
                    WHERE google_app_set_id <> ''
                  UNION ALL SELECT adid, created, 'device_id', external_device_id FROM day_rows
                  UNION ALL SELECT adid, created, 'user_id', external_device_id FROM day_rows)
                WHERE trim(coalesce(id, '')) NOT IN ('', '{ZERO}')""")
            # The rows some Amplitude event of theirs shows, up to 72 hours after the attribution.
            con.execute("""
                CREATE TEMP TABLE matched AS
                SELECT DISTINCT w.adid FROM wanted w
                JOIN (SELECT 'device_id' AS key, upper(device_id) AS id, event_time FROM amplitude.events
                      UNION ALL SELECT 'user_id', upper(user_id), event_time FROM amplitude.events
                      UNION ALL SELECT 'idfa', upper(idfa), event_time FROM amplitude.events
                      UNION ALL SELECT 'adid', upper(adid), event_time FROM amplitude.events) e
                  ON e.key = w.key AND e.id = w.id AND epoch(e.event_time) <= w.created + 72 * 3600""")
            written = con.execute(f"""
                COPY (
                  SELECT to_json({{
                    'event_type': '[Adjust] ' || CASE activity_kind WHEN 'install' THEN 'Install' ELSE 'Reattribution' END,
                    'platform': platform, 'idfa': nullif(idfa, ''), 'idfv': nullif(idfv, ''), 'adid': nullif(gps_adid, ''),
                    'android_app_set_id': nullif(google_app_set_id, ''), 'time': created * 1000,
                    'user_properties': {{'[Adjust] network': network_name, '[Adjust] campaign': campaign_name,
                                         '[Adjust] adgroup': adgroup_name, '[Adjust] creative': creative_name,
                                         '[Adjust] tracker': tracker_name, '[Adjust] country': country}}}})
                  FROM day_rows WHERE adid IN (SELECT adid FROM matched)
                ) TO '{outbox}' (FORMAT CSV, HEADER false, QUOTE '', DELIMITER '\x01')""").fetchone()[0]
        return int(written)

    sync()


plain_adjust_amplitude()
