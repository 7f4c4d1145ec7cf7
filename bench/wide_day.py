"""A day of the production shape for `make bench`, generated in DuckDB's SQL (seconds, not minutes):

- Adjust's raw export as its CSV upload loads: every placeholder of demo.vendor_schemas as text,
  and the DATE its loader partitions it by (`partition_day`, the day the file was loaded; the
  bench's setting `adjust_partition_column` names it, as a production setup would);
  `rows` attribution rows a day, half iOS, half Android, plus 10% exact duplicates (re-delivered
  files) and as many session and event rows of the same devices (outside the sync's scope);
- Amplitude's Event table, every documented column: `events` events a day, about 28% from the
  day's attributed devices that open the app (their device_id as each SDK sets it: the IDFV on
  iOS; on Android the App Set ID + "S", the advertising id, or a random id + "R"), the rest from
  devices the day never sees.

Every value comes from a hash of the row's number and the seed, so a day is the same every time.
"""

from __future__ import annotations

import datetime as dt

from demo.vendor_schemas import ADJUST_CSV_COLUMNS, create_adjust_export, create_amplitude_events, insert_amplitude_events

ADJUST_TABLE = "adjust.raw_events"
AMPLITUDE_TABLE = "amplitude.events"
PARTITION = "partition_day"
DUPLICATE_SHARE = 0.10
OPEN_SHARE = 0.70  # attributed devices that open the app within the window


def _fraction(i: str, salt: str, seed: int) -> str:
    """A number in [0, 1) drawn for row `i`."""
    return f"((hash({i}, '{salt}', {seed}) % 1000000) / 1000000.0)"


def _hex(i: str, salt: str, seed: int) -> str:
    return f"md5(concat('{salt}', {seed}, '/', {i}))"


def _uuid(i: str, salt: str, seed: int, upper: bool) -> str:
    h = _hex(i, salt, seed)
    text = (f"concat(substr({h}, 1, 8), '-', substr({h}, 9, 4), '-', substr({h}, 13, 4), '-', "
            f"substr({h}, 17, 4), '-', substr({h}, 21, 12))")
    return f"upper({text})" if upper else text


def _attribution_rows(day: dt.date, rows: int, seed: int) -> str:
    """The day's attribution rows: one per device, with the columns of ADJUST_CSV_COLUMNS as text."""
    start = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc).timestamp())
    f = lambda salt: _fraction("i", salt, seed)  # noqa: E731 - a short local name reads better in the SQL below
    networks = ["Facebook Installs", "Google Ads ACI", "TikTok for Business", "Apple Search Ads", "Unity Ads", "Organic"]
    columns = {
        "app_token": "'abc123def456'",
        "app_name": "'Sample App'",
        "app_version": "'4.2.0'",
        "environment": "'production'",
        "activity_kind": f"CASE WHEN {f('kind')} < 0.1 THEN 'reattribution' ELSE 'install' END",
        "created_at": "CAST(created AS VARCHAR)",
        "installed_at": "CAST(created AS VARCHAR)",
        "reattributed_at": "'0'",
        "click_time": "CAST(created - 600 AS VARCHAR)",
        "adid": _hex("i", "adid", seed),
        "idfa": f"CASE WHEN NOT ios THEN '' WHEN {f('att')} < 0.25 THEN {_uuid('i', 'idfa', seed, True)} "
                "ELSE '00000000-0000-0000-0000-000000000000' END",
        "idfv": f"CASE WHEN ios AND {f('idfv')} >= 0.04 THEN {_uuid('i', 'idfv', seed, True)} ELSE '' END",
        "gps_adid": f"CASE WHEN NOT ios AND {f('gps')} >= 0.10 THEN {_uuid('i', 'gps', seed, False)} ELSE '' END",
        "google_app_set_id": f"CASE WHEN NOT ios AND {f('set')} < 0.97 THEN {_uuid('i', 'set', seed, False)} ELSE '' END",
        "android_id": f"CASE WHEN NOT ios AND {f('aid')} < 0.5 THEN substr({_hex('i', 'aid', seed)}, 1, 16) ELSE '' END",
        "oaid": "''",
        "fire_adid": "''",
        "external_device_id": f"CASE WHEN {f('ext')} < 0.15 THEN concat('user-', {seed}, '-', i) ELSE '' END",
        "tracker": f"substr({_hex('network', 'tracker', seed)}, 1, 6)",
        "tracker_name": "concat(network, '::', campaign)",
        "network_name": "network",
        "campaign_name": "campaign",
        "adgroup_name": "concat(campaign, '_broad')",
        "creative_name": f"CASE WHEN {f('creative')} < 0.5 THEN 'video_15s' ELSE 'playable' END",
        "is_organic": "CASE WHEN network = 'Organic' THEN '1' ELSE '0' END",
        "country": f"['us', 'de', 'gb', 'fr', 'br', 'jp'][1 + CAST(floor({f('country')} * 6) AS INTEGER)]",
        "os_name": f"CASE WHEN {f('case')} < 0.1 THEN upper(platform) ELSE platform END",
        "os_version": "CASE WHEN ios THEN '18.1' ELSE '15' END",
        "device_type": "'phone'",
        "tracking_limited": "CASE WHEN ios THEN '1' ELSE '0' END",
        "att_status": "CASE WHEN ios THEN '2' ELSE '' END",
        "random": f"CAST(hash(i, 'random', {seed}) % 1000000000 AS VARCHAR)",
        "nonce": f"substr({_hex('i', 'nonce', seed)}, 1, 8)",
    }
    assert set(columns) == set(ADJUST_CSV_COLUMNS)
    network = f"{networks!r}[1 + CAST(floor({f('network')} * {len(networks)}) AS INTEGER)]"
    return f"""
        SELECT i, ios, created, {', '.join(f'{columns[c]} AS {c}' for c in ADJUST_CSV_COLUMNS)}
        FROM (
          SELECT i, ios, created, platform, network, concat(lower(replace(network, ' ', '_')), '_', {seed % 7}) AS campaign
          FROM (SELECT i, i % 2 = 0 AS ios, CASE WHEN i % 2 = 0 THEN 'ios' ELSE 'android' END AS platform,
                       {start} + hash(i, 'created', {seed}) % 86400 AS created, {network} AS network
                FROM range({rows}) r(i))
        )"""


def add_day(con, day: dt.date, rows: int, events: int, seed: int) -> None:
    """Append one day of each export (creating the tables on the first call)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS adjust; CREATE SCHEMA IF NOT EXISTS amplitude")
    if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'adjust' "
                       "AND table_name = 'raw_events'").fetchone()[0]:
        create_adjust_export(con, ADJUST_TABLE, (*ADJUST_CSV_COLUMNS, PARTITION), {PARTITION: "DATE"})
        create_amplitude_events(con, AMPLITUDE_TABLE)
    listed = ", ".join((*ADJUST_CSV_COLUMNS, PARTITION))
    con.execute(f"CREATE OR REPLACE TEMP TABLE day_rows AS SELECT *, DATE '{day}' AS {PARTITION} "
                f"FROM ({_attribution_rows(day, rows, seed)})")
    con.execute(f"INSERT INTO {ADJUST_TABLE} ({listed}) SELECT {listed} FROM day_rows")
    # Re-delivered files: exact copies of a tenth of the rows.
    con.execute(f"INSERT INTO {ADJUST_TABLE} ({listed}) SELECT {listed} FROM day_rows "
                f"WHERE {_fraction('i', 'dup', seed)} < {DUPLICATE_SHARE}")
    # The same devices' sessions and events: rows of the export outside the sync's scope.
    con.execute(f"INSERT INTO {ADJUST_TABLE} ({listed}) SELECT * EXCLUDE (i, ios, created) REPLACE ("
                "CASE WHEN i % 3 = 0 THEN 'event' ELSE 'session' END AS activity_kind, "
                "CAST(created + 900 AS VARCHAR) AS created_at) "
                f"FROM day_rows WHERE {_fraction('i', 'session', seed)} < 0.5")
    _add_events(con, day, events, seed)
    con.execute("DROP TABLE day_rows")


def _add_events(con, day: dt.date, events: int, seed: int) -> None:
    f = lambda i, salt: _fraction(i, salt, seed)  # noqa: E731
    # The attributed devices that open the app: one to three events each, the first within 60 h.
    device = (f"CASE WHEN ios THEN CASE WHEN {f('i', 'lower')} < 0.2 THEN lower(idfv) ELSE idfv END "
              f"WHEN google_app_set_id <> '' AND {f('i', 'setdev')} < 0.34 THEN concat(google_app_set_id, 'S') "
              f"WHEN gps_adid <> '' AND {f('i', 'adiddev')} < 0.6 THEN gps_adid "
              f"ELSE concat({_uuid('i', 'random', seed, False)}, 'R') END")
    attributed = f"""
        SELECT 10000000000 + {seed}::BIGINT * 100000000 + i * 4 + n AS amplitude_id,
               CASE WHEN external_device_id <> '' THEN external_device_id WHEN {f('i', 'user')} < 0.4 THEN concat('u', {seed}, '-', i) END AS user_id,
               {device} AS device_id,
               to_timestamp(created + hash(i, 'first', {seed}) % (60 * 3600) + n * 7200) AS event_time,
               CASE WHEN ios THEN 'iOS' ELSE 'Android' END AS platform,
               CASE WHEN ios AND idfa <> '00000000-0000-0000-0000-000000000000' AND {f('i', 'keepidfa')} < 0.3 THEN idfa END AS idfa,
               CASE WHEN NOT ios AND gps_adid <> '' AND {f('i', 'keepadid')} < 0.15 THEN upper(gps_adid) END AS adid,
               'session_start' AS event_type, CAST(NULL AS VARCHAR) AS uuid, 60 AS upload_delay_seconds
        FROM day_rows, range(3) k(n)
        WHERE {f('i', 'opens')} < {OPEN_SHARE} AND n <= hash(i, 'events', {seed}) % 3"""
    before = con.execute(f"SELECT count(*) FROM {AMPLITUDE_TABLE}").fetchone()[0]
    insert_amplitude_events(con, AMPLITUDE_TABLE, f"({attributed})")
    made = con.execute(f"SELECT count(*) FROM {AMPLITUDE_TABLE}").fetchone()[0] - before
    # Devices the day never sees, three events each, over the same day.
    others = max(0, events - made)
    start = int(dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc).timestamp())
    unrelated = f"""
        SELECT 900000000000 + {seed}::BIGINT * 100000000 + e AS amplitude_id,
               CASE WHEN {f('d', 'user')} < 0.4 THEN concat('o', {seed}, '-', d) END AS user_id,
               CASE WHEN d % 2 = 0 THEN {_uuid('d', 'other', seed, True)} ELSE concat({_uuid('d', 'other', seed, False)}, 'R') END AS device_id,
               to_timestamp({start} + hash(e, 'at', {seed}) % 86400) AS event_time,
               CASE WHEN d % 2 = 0 THEN 'iOS' ELSE 'Android' END AS platform,
               CAST(NULL AS VARCHAR) AS idfa, CAST(NULL AS VARCHAR) AS adid,
               'session_start' AS event_type, CAST(NULL AS VARCHAR) AS uuid, 60 AS upload_delay_seconds
        FROM (SELECT e, e // 3 AS d FROM range({others}) r(e))"""
    insert_amplitude_events(con, AMPLITUDE_TABLE, f"({unrelated})")
