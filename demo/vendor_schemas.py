"""The two input tables as their vendors document them, for the demo's warehouse and the tests'
fixtures: what a user's warehouse holds, not the subset the sync reads.

- Amplitude's BigQuery export (Amplitude docs, "Google BigQuery" destination, Event table schema):
  partitioned by event_time's date, `amplitude_id` and `session_id` BIGNUMERIC, the advertising id
  spelled `Adid`, JSON properties, and duplicate rows (one `uuid`) after Amplitude's backfills.
  DuckDB has no BIGNUMERIC: DECIMAL(38,0) stands in (HUGEINT is the other choice).
- Adjust's CSV uploads (help.adjust.com, "CSV uploads to cloud storage"): one column per configured
  placeholder, all of it text when loaded as it comes (every column STRING).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# (name as the export spells it, BigQuery type, DuckDB type)
AMPLITUDE_EVENT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("Adid", "STRING", "VARCHAR"),
    ("amplitude_event_type", "STRING", "VARCHAR"),
    ("amplitude_id", "BIGNUMERIC", "DECIMAL(38,0)"),
    ("app", "INT64", "BIGINT"),
    ("city", "STRING", "VARCHAR"),
    ("client_event_time", "TIMESTAMP", "TIMESTAMPTZ"),
    ("client_upload_time", "TIMESTAMP", "TIMESTAMPTZ"),
    ("country", "STRING", "VARCHAR"),
    ("data", "JSON", "JSON"),
    ("device_brand", "STRING", "VARCHAR"),
    ("device_carrier", "STRING", "VARCHAR"),
    ("device_family", "STRING", "VARCHAR"),
    ("device_id", "STRING", "VARCHAR"),
    ("device_manufacturer", "STRING", "VARCHAR"),
    ("device_model", "STRING", "VARCHAR"),
    ("device_type", "STRING", "VARCHAR"),
    ("dma", "STRING", "VARCHAR"),
    ("event_id", "INT64", "BIGINT"),
    ("event_properties", "JSON", "JSON"),
    ("event_time", "TIMESTAMP", "TIMESTAMPTZ"),
    ("event_type", "STRING", "VARCHAR"),
    ("group_properties", "JSON", "JSON"),
    ("groups", "JSON", "JSON"),
    ("idfa", "STRING", "VARCHAR"),
    ("ip_address", "STRING", "VARCHAR"),
    ("is_attribution_event", "BOOL", "BOOLEAN"),
    ("language", "STRING", "VARCHAR"),
    ("library", "STRING", "VARCHAR"),
    ("location_lat", "FLOAT64", "DOUBLE"),
    ("location_lng", "FLOAT64", "DOUBLE"),
    ("os_name", "STRING", "VARCHAR"),
    ("os_version", "STRING", "VARCHAR"),
    ("paying", "STRING", "VARCHAR"),
    ("platform", "STRING", "VARCHAR"),
    ("processed_time", "TIMESTAMP", "TIMESTAMPTZ"),
    ("region", "STRING", "VARCHAR"),
    ("sample_rate", "BIGNUMERIC", "DECIMAL(38,0)"),
    ("server_received_time", "TIMESTAMP", "TIMESTAMPTZ"),
    ("server_upload_time", "TIMESTAMP", "TIMESTAMPTZ"),
    ("session_id", "BIGNUMERIC", "DECIMAL(38,0)"),
    ("start_version", "STRING", "VARCHAR"),
    ("user_creation_time", "TIMESTAMP", "TIMESTAMPTZ"),
    ("user_id", "STRING", "VARCHAR"),
    ("user_properties", "JSON", "JSON"),
    ("uuid", "STRING", "VARCHAR"),
    ("version_name", "STRING", "VARCHAR"),
)

# Adjust's placeholders a raw export typically carries (the sync reads some of them).
ADJUST_CSV_COLUMNS: tuple[str, ...] = (
    "app_token", "app_name", "app_version", "environment", "activity_kind", "created_at", "installed_at",
    "reattributed_at", "click_time", "adid", "idfa", "idfv", "gps_adid", "google_app_set_id", "android_id", "oaid",
    "fire_adid", "external_device_id", "tracker", "tracker_name", "network_name", "campaign_name", "adgroup_name",
    "creative_name", "is_organic", "country", "os_name", "os_version", "device_type", "tracking_limited",
    "att_status", "random", "nonce",
)


# What a generated event sets; the Event table's other columns are made from these, or NULL.
EVENT_FIELDS = ("amplitude_id", "user_id", "device_id", "event_time", "platform", "idfa", "adid", "event_type",
                "uuid", "upload_delay_seconds")

# DuckDB statements of the demo's own (the pipeline's are in the package's sql/ folder).
_SQL_DIR = Path(__file__).resolve().parent / "sql"


def _render(name: str, **context: Any) -> str:
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_SQL_DIR)), undefined=jinja2.StrictUndefined)
    return environment.get_template(f"{name}.sql").render(**context).strip()


def create_amplitude_events(con, table: str) -> None:
    """An empty Amplitude Event table, every documented column with its type."""
    con.execute(_render("create_amplitude_events", table=table, columns=AMPLITUDE_EVENT_COLUMNS))


def insert_amplitude_events(con, table: str, source: str, params: list | None = None) -> None:
    """Append the events of `source` (a relation with EVENT_FIELDS) to an Amplitude Event table."""
    con.execute(_render("insert_amplitude_events", table=table, source=source, columns=AMPLITUDE_EVENT_COLUMNS),
                params or [])


def create_adjust_export(con, table: str, columns: tuple[str, ...] = ADJUST_CSV_COLUMNS,
                         typed: dict[str, str] | None = None) -> None:
    """An empty Adjust export as loaded from its CSV: every column text (VARCHAR), but those in
    `typed` (as a load with a schema or autodetect may type them)."""
    con.execute(_render("create_adjust_export", table=table, columns=columns, typed=typed or {}))
