"""Settings of the sync: the `adjust_amplitude_settings` Variable, validated, with defaults.

Every key is optional. Unknown keys and wrong types fail loudly, because a typo in a
Variable would otherwise silently fall back to a default nobody asked for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from adjust_amplitude.failures import NotRetryable
from adjust_amplitude.run_day import day_start

SETTINGS_VARIABLE = "adjust_amplitude_settings"
WAREHOUSE_CONN_ID = "adjust_amplitude_warehouse"
AMPLITUDE_CONN_ID = "amplitude_attribution"

# Adjust export columns the pipeline reads. Required ones must exist in the table.
ADJUST_REQUIRED_COLUMNS = ("activity_kind", "created_at", "adid", "os_name")
ADJUST_OPTIONAL_COLUMNS = (
    "app_token",
    "environment",
    "idfa",
    "idfv",
    "gps_adid",
    "android_id",
    "google_app_set_id",
    "external_device_id",
    "tracker_name",
    "network_name",
    "campaign_name",
    "adgroup_name",
    "creative_name",
    "country",
    "installed_at",
    "reattributed_at",
    "att_status",
)
ADJUST_COLUMNS = ADJUST_REQUIRED_COLUMNS + ADJUST_OPTIONAL_COLUMNS
# The Adjust columns that can become user properties of the event Amplitude receives (all the sync
# reads but created_at, which is the event's time), and what is sent by default: column -> name.
USER_PROPERTY_COLUMNS = tuple(c for c in ADJUST_COLUMNS if c != "created_at")
DEFAULT_USER_PROPERTIES = (("tracker_name", "[Adjust] tracker"), ("network_name", "[Adjust] network"),
                           ("campaign_name", "[Adjust] campaign"), ("adgroup_name", "[Adjust] adgroup"),
                           ("creative_name", "[Adjust] creative"), ("country", "[Adjust] country"))
# The Amplitude export's columns the pipeline reads (found whatever their case: the export spells
# one `Adid`); its others (amplitude_id, uuid, the JSON properties...) are never read.
AMPLITUDE_REQUIRED_COLUMNS = ("user_id", "device_id", "event_time", "platform", "idfa", "adid")

# A table name is one to three dot-separated parts; a BigQuery project id may contain dashes.
_PART = r"[A-Za-z_][A-Za-z0-9_]{0,1023}"
_DEADLINE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?")
_PROJECT = r"[a-z][a-z0-9-]{4,61}[a-z0-9]"
_TABLE_RE = re.compile(rf"^(?:(?:{_PROJECT}|{_PART})\.)?(?:{_PART}\.)?{_PART}$")
_DATASET_RE = re.compile(rf"^(?:(?:{_PROJECT}|{_PART})\.)?{_PART}$")


class SettingsError(ValueError, NotRetryable):
    """The settings Variable or a Param is invalid; the message says which key and why."""


def _validate_name(value: str, key: str, pattern: re.Pattern[str], what: str, shape: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SettingsError(
            f"{SETTINGS_VARIABLE}.{key} = {value!r} is not a {what} name "
            f"(expected {shape} made of letters, digits and underscores)"
        )
    return value


def validate_table_name(value: str, key: str) -> str:
    return _validate_name(value, key, _TABLE_RE, "table", "[project.]dataset.table")


def validate_dataset_name(value: str, key: str) -> str:
    return _validate_name(value, key, _DATASET_RE, "dataset", "[project.]dataset")


REPORT_IDENTIFIERS = ("masked", "full")
NOTIFY_TYPES = ("email", "slack")


@dataclasses.dataclass(frozen=True)
class NotifyTarget:
    """Who hears about each report: an email list through an SMTP Connection, or a Slack channel
    through an incoming-webhook Connection. `only_alerts` keeps a target for alerts alone."""

    type: str
    conn_id: str
    to: tuple[str, ...] = ()
    only_alerts: bool = False
    name: str = ""

    @property
    def label(self) -> str:
        """How the target is named in notification_log and in logs (never an address or a URL)."""
        return self.name or f"{self.type}:{self.conn_id}"

    @classmethod
    def parse(cls, raw: Any, index: int) -> NotifyTarget:
        where = f"{SETTINGS_VARIABLE}.notify[{index}]"
        if not isinstance(raw, dict):
            raise SettingsError(f'{where} = {raw!r} should be an object like {{"type": "slack", "conn_id": "marketing_slack"}}')
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SettingsError(f"{where} has unknown keys {unknown}; known keys: {sorted(known)}")
        if raw.get("type") not in NOTIFY_TYPES:
            raise SettingsError(f"{where}.type = {raw.get('type')!r} must be one of {', '.join(map(repr, NOTIFY_TYPES))}")
        conn_id, name = raw.get("conn_id"), raw.get("name", "")
        if not isinstance(conn_id, str) or not conn_id.strip():
            raise SettingsError(f"{where}.conn_id must name an Airflow Connection")
        if not isinstance(name, str):
            raise SettingsError(f"{where}.name = {name!r} should be text")
        to = raw.get("to", [])
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not all(isinstance(a, str) and "@" in a for a in to):
            raise SettingsError(f"{where}.to = {to!r} should be a list of email addresses")
        if raw["type"] == "email" and not to:
            raise SettingsError(f"{where}: an email target needs `to`, the addresses to write to")
        if raw["type"] == "slack" and to:
            raise SettingsError(f"{where}: a slack target posts to its webhook's channel and takes no `to`")
        only_alerts = raw.get("only_alerts", False)
        if not isinstance(only_alerts, bool):
            raise SettingsError(f"{where}.only_alerts = {only_alerts!r} should be true or false")
        return cls(raw["type"], conn_id.strip(), tuple(a.strip() for a in to), only_alerts, name.strip())


@dataclasses.dataclass(frozen=True)
class Settings:
    adjust_table: str = "adjust.raw_events"
    amplitude_table: str = "amplitude.events"
    output_dataset: str = "attribution"
    report_dir: str = "reports"
    report_conn_id: str | None = None
    # Advertising and device ids in files meant for people (the report's CSV): "masked", all but
    # their last 4 characters; or "full". The warehouse tables always keep them whole.
    report_identifiers: str = "masked"
    # Where people open report_dir (a web server or a bucket's URL): notifications link there.
    # None: they show the report's location as written.
    report_public_url: str | None = None
    # Targets told after each report that closes windows (see NotifyTarget); none by default.
    notify: tuple[NotifyTarget, ...] = ()
    # Each message is tried this often, waiting notify_backoff_seconds, then twice as long, and so on.
    notify_attempts: int = 4
    notify_backoff_seconds: float = 10.0
    notify_timeout_seconds: int = 30
    # The report marks a change significant at this level; alerts hold it over every group tested.
    significance_level: float = 0.95
    # An alert needs this many decided rows (matched, unmatched or no identifier) in the report and
    # in its 30-day baseline, and a drop of at least this many points of match rate.
    alert_min_rows: int = 200
    alert_min_drop_points: float = 3.0
    activity_kinds: tuple[str, ...] = ("install", "reattribution")
    environments: tuple[str, ...] = ("production",)
    window_hours: int = 72
    lookback_days: int = 2
    rate_limit_per_second: float = 100.0
    max_in_flight: int = 32
    push_partitions: int = 1
    # A report not out by this UTC time of the day after its day is told to the notify targets
    # (an Airflow deadline alert on the DAG; null turns it off).
    report_deadline_utc: str | None = "06:00"
    max_reject_ratio: float = 0.01
    max_invalid_ratio: float = 0.05
    created_at_floor: str = "2012-01-01"
    # Identifier values many devices share: treated as missing (case-insensitive; empty and all-zero
    # values always are).
    placeholder_identifiers: tuple[str, ...] = ("unknown", "null", "(null)", "nil", "none", "undefined", "n/a", "0", "-")
    # An identifier Amplitude shows on more devices than this is no match key.
    max_devices_per_identifier: int = 10
    # Days of Amplitude events re-read each run for late uploads, behind the identity index's watermark.
    amplitude_late_days: int = 3
    # How far back (days before the run's day) a run looks for rows still open: pending, matched
    # and not yet sent, or invalid and not yet reported. Every statement on a partitioned output
    # table reads only these days.
    open_days: int = 10
    # The Adjust table's partition column or pseudo-column (_PARTITIONDATE, _PARTITIONTIME), a date at
    # or after each row's created_at day; None reads the whole table.
    adjust_partition_column: str | None = None
    event_type_prefix: str = "[Adjust]"
    # The Adjust columns sent as user properties, and each one's name in Amplitude (JSON: an object
    # column -> name, which replaces this default; {} sends none). In USER_PROPERTY_COLUMNS' order.
    user_properties: tuple[tuple[str, str], ...] = DEFAULT_USER_PROPERTIES
    push_page_size: int = 5000
    ledger_flush_rows: int = 100
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_attempts: int = 6
    backoff_max_seconds: float = 60.0
    claim_ttl_seconds: float = 600.0
    maximum_bytes_billed: int = 2**40  # 1 TiB per BigQuery job

    def __post_init__(self) -> None:
        validate_table_name(self.adjust_table, "adjust_table")
        validate_table_name(self.amplitude_table, "amplitude_table")
        validate_dataset_name(self.output_dataset, "output_dataset")
        if not self.activity_kinds:
            raise SettingsError(f"{SETTINGS_VARIABLE}.activity_kinds must not be empty")
        for key in ("window_hours", "push_page_size", "ledger_flush_rows", "max_attempts", "max_in_flight", "push_partitions",
                    "maximum_bytes_billed", "max_devices_per_identifier", "notify_attempts", "notify_timeout_seconds",
                    "alert_min_rows"):
            if getattr(self, key) < 1:
                raise SettingsError(f"{SETTINGS_VARIABLE}.{key} must be at least 1")
        for key in ("lookback_days", "amplitude_late_days"):
            if getattr(self, key) < 0:
                raise SettingsError(f"{SETTINGS_VARIABLE}.{key} must be 0 or more")
        # The open days must hold every row a run can still change: those it reads, and their windows.
        least_open = self.lookback_days + -(-self.window_hours // 24) + 1
        if self.open_days < least_open:
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.open_days = {self.open_days} must be at least lookback_days + the window in "
                f"days + 1 = {least_open}: rows still open must lie within the days a run reads"
            )
        if self.adjust_partition_column is not None and not re.fullmatch(_PART, self.adjust_partition_column):
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.adjust_partition_column = {self.adjust_partition_column!r} is not a column name"
            )
        for field in dataclasses.fields(self):
            # Python's JSON reader accepts Infinity and NaN, which pass every comparison below.
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingsError(f"{SETTINGS_VARIABLE}.{field.name} = {value!r} must be a finite number")
        for key in ("rate_limit_per_second", "connect_timeout_seconds", "read_timeout_seconds"):
            if getattr(self, key) <= 0:
                raise SettingsError(f"{SETTINGS_VARIABLE}.{key} must be positive")
        if self.claim_ttl_seconds < 30:
            raise SettingsError(f"{SETTINGS_VARIABLE}.claim_ttl_seconds must be at least 30 (a push shows it is alive every third of it)")
        if self.push_partitions > 256:
            raise SettingsError(f"{SETTINGS_VARIABLE}.push_partitions must be at most 256 (rows hash into 256 buckets)")
        # Each sender may put a whole number of requests in any second; below one, senders that
        # start together would send more than the limit in their first second.
        if self.push_partitions > self.rate_limit_per_second:
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.push_partitions = {self.push_partitions} must be at most rate_limit_per_second "
                f"({self.rate_limit_per_second:g}): each partition sends at least one request a second of the limit"
            )
        if self.report_deadline_utc is not None and not _DEADLINE.fullmatch(self.report_deadline_utc):
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.report_deadline_utc = {self.report_deadline_utc!r} should be a UTC time like "
                "'06:00' (or '06:00:30'), or null for no deadline"
            )
        for key in ("max_reject_ratio", "max_invalid_ratio"):
            if not 0 <= getattr(self, key) <= 1:
                raise SettingsError(f"{SETTINGS_VARIABLE}.{key} must be between 0 and 1")
        try:
            dt.date.fromisoformat(self.created_at_floor)
        except ValueError:
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.created_at_floor = {self.created_at_floor!r} is not a date like '2012-01-01'"
            ) from None
        if self.report_identifiers not in REPORT_IDENTIFIERS:
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.report_identifiers = {self.report_identifiers!r} must be one of "
                f"{', '.join(map(repr, REPORT_IDENTIFIERS))}"
            )
        if not 0.5 <= self.significance_level < 1:
            raise SettingsError(f"{SETTINGS_VARIABLE}.significance_level must be at least 0.5 and below 1 (0.95 is 95%)")
        for key in ("notify_backoff_seconds", "alert_min_drop_points"):
            if getattr(self, key) < 0:
                raise SettingsError(f"{SETTINGS_VARIABLE}.{key} must be 0 or more")
        labels = [t.label for t in self.notify]
        if len(set(labels)) < len(labels):
            raise SettingsError(f"{SETTINGS_VARIABLE}.notify names a target twice ({', '.join(labels)}); give each a distinct `name`")
        # A message's attempts must end before its claim lapses, or another run could send it too.
        if self.notify and self.notify_seconds >= self.claim_ttl_seconds:
            raise SettingsError(
                f"{SETTINGS_VARIABLE}: notify_attempts x notify_timeout_seconds plus the backoff ({self.notify_seconds:.0f} s) "
                f"must stay below claim_ttl_seconds ({self.claim_ttl_seconds:.0f} s)"
            )
        if not self.event_type_prefix.strip():
            raise SettingsError(f"{SETTINGS_VARIABLE}.event_type_prefix must not be empty")

    @property
    def window_seconds(self) -> int:
        return self.window_hours * 3600

    @property
    def report_deadline(self) -> dt.timedelta | None:
        """How long after the start of its day (UTC midnight) a day's report is due: the day after,
        at report_deadline_utc."""
        if self.report_deadline_utc is None:
            return None
        hours, minutes, *seconds = (int(part) for part in self.report_deadline_utc.split(":"))
        return dt.timedelta(days=1, hours=hours, minutes=minutes, seconds=sum(seconds))

    @property
    def notify_seconds(self) -> float:
        """The longest one message can take: every attempt timing out, and the waits between them."""
        backoff = self.notify_backoff_seconds * (2 ** (self.notify_attempts - 1) - 1)
        return self.notify_attempts * self.notify_timeout_seconds + backoff

    @property
    def created_at_floor_seconds(self) -> int:
        """Unix seconds of created_at_floor (UTC midnight): anything earlier is no Adjust attribution."""
        return day_start(dt.date.fromisoformat(self.created_at_floor))

    def report_url(self) -> str:
        """report_dir as a URL: object-storage URLs as given, local folders as file:// URLs.
        A relative folder is under AIRFLOW_HOME, the one folder every platform's workers have
        (Airflow's own default, ~/airflow, when the variable is unset); nothing is relative to
        where the code happens to be deployed."""
        if "://" in self.report_dir:
            return self.report_dir
        path = Path(self.report_dir).expanduser()
        return (path if path.is_absolute() else airflow_home() / path).resolve().as_uri()

    @property
    def user_property_params(self) -> dict[str, str | None]:
        """The query parameters naming each column's user property (attribution_events): NULL for
        a column not sent."""
        names = dict(self.user_properties)
        return {f"property_{column}": names.get(column) for column in USER_PROPERTY_COLUMNS}

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "user_properties": dict(self.user_properties)}, sort_keys=True)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], **overrides: Any) -> Settings:
        if not isinstance(raw, dict):
            raise SettingsError(f"{SETTINGS_VARIABLE} must be a JSON object, got {type(raw).__name__}")
        merged = {**raw, **{k: v for k, v in overrides.items() if v is not None}}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(merged) - set(fields))
        if unknown:
            raise SettingsError(f"{SETTINGS_VARIABLE} has unknown keys {unknown}; known keys: {sorted(fields)}")
        values: dict[str, Any] = {}
        for name, value in merged.items():
            if name == "notify":
                if not isinstance(value, list):
                    raise SettingsError(f"{SETTINGS_VARIABLE}.notify = {value!r} should be a list of targets")
                values[name] = tuple(NotifyTarget.parse(v, i) for i, v in enumerate(value))
                continue
            if name == "user_properties":
                values[name] = _user_properties(value)
                continue
            default = fields[name].default
            values[name] = _coerce(name, value, default)
        return cls(**values)


def _user_properties(value: Any) -> tuple[tuple[str, str], ...]:
    """The user_properties setting: an object of Adjust column -> property name."""
    where = f"{SETTINGS_VARIABLE}.user_properties"
    if not isinstance(value, dict):
        raise SettingsError(f'{where} = {value!r} should be an object like {{"network_name": "[Adjust] network"}}')
    unknown = sorted(set(value) - set(USER_PROPERTY_COLUMNS))
    if unknown:
        raise SettingsError(f"{where} names {unknown}, which the sync does not read; it can send {', '.join(USER_PROPERTY_COLUMNS)}")
    for column, name in value.items():
        if not isinstance(name, str) or not name.strip():
            raise SettingsError(f"{where}.{column} = {name!r} should be the property's name in Amplitude")
        if name.strip().startswith("$"):
            raise SettingsError(f"{where}.{column} = {name!r}: names starting with $ are Amplitude's operations ($set, ...)")
    names = [n.strip() for n in value.values()]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SettingsError(f"{where} gives two columns the name {', '.join(map(repr, twice))}")
    return tuple((c, value[c].strip()) for c in USER_PROPERTY_COLUMNS if c in value)


# Text settings with a default that null turns off.
_OFF_WITH_NULL = ("report_deadline_utc",)


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Accept JSON's types for each default's type; reject anything else with the key's name."""
    wrong = SettingsError(f"{SETTINGS_VARIABLE}.{name} = {value!r} should be like {default!r}")
    if default is None or name in _OFF_WITH_NULL:  # optional text
        if value is not None and not isinstance(value, str):
            raise SettingsError(f"{SETTINGS_VARIABLE}.{name} = {value!r} should be text or null")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong
        return tuple(v.strip().lower() for v in value)
    if isinstance(default, bool) or isinstance(value, bool):
        raise wrong
    if isinstance(default, int):
        if not isinstance(value, int):
            raise wrong
        return value
    if isinstance(default, float):
        if not isinstance(value, (int, float)):
            raise wrong
        return float(value)
    if not isinstance(value, str):
        raise wrong
    return value


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()


def load_settings(**overrides: Any) -> Settings:
    """Read the Variable (or AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS) when a task runs."""
    from airflow.sdk import Variable

    raw = Variable.get(SETTINGS_VARIABLE, default=None)
    if raw is None:
        data: Any = {}
    else:
        try:
            data = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{SETTINGS_VARIABLE} is not valid JSON: {exc}") from None
    return Settings.from_mapping(data, **overrides)


def settings_at_parse() -> Settings:
    """The settings the DAG's shape needs when the DAG file is parsed (the push's concurrency, the
    report's deadline): the Variable as load_settings reads it, or the defaults when it cannot be
    read there (no metadata database, as in a bare DagBag) or is invalid. Never raises: a task
    reads the settings again and fails with their error; the DAG must still load."""
    import logging

    try:
        return load_settings()
    except Exception as exc:  # noqa: BLE001  any reason the Variable is unreadable: the defaults
        logging.getLogger(__name__).warning("%s could not be read when the DAG was parsed (%s: %s); the DAG uses "
                                            "the default push_partitions and report_deadline_utc",
                                            SETTINGS_VARIABLE, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return Settings()
