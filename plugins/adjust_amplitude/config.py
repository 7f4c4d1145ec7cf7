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
from typing import Any, get_args, get_type_hints

from adjust_amplitude.failures import NotRetryable
from adjust_amplitude.run_day import day_start

SETTINGS_VARIABLE = "adjust_amplitude_settings"
WAREHOUSE_CONN_ID = "adjust_amplitude_warehouse"
AMPLITUDE_CONN_ID = "amplitude_attribution"

# The Adjust export columns the pipeline reads (required ones must exist in the table), defined
# once with what the SQL needs of each.
from adjust_amplitude.adjust_columns import ADJUST_COLUMNS, ADJUST_OPTIONAL_COLUMNS, ADJUST_REQUIRED_COLUMNS

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
class Bounds:
    """What one setting allows: numbers within limits (`below` excludes its value), or one of a
    few texts. `why` gives the reason where a limit is not obvious."""

    minimum: float | None = None
    maximum: float | None = None
    below: float | None = None
    positive: bool = False
    choices: tuple[str, ...] = ()
    why: str = ""

    def allows(self, value: Any) -> bool:
        if value is None:  # a setting null turns off
            return True
        if self.choices:
            return value in self.choices
        return ((self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)
                and (self.below is None or value < self.below) and (not self.positive or value > 0))

    def rule(self) -> str:
        """The limits in words, as errors and docs/configuration.md give them ('' for none)."""
        words = []
        if self.positive:
            words.append("positive")
        if self.minimum is not None and self.maximum is not None:
            words.append(f"between {self.minimum:g} and {self.maximum:g}")
        elif self.minimum is not None:
            words.append("0 or more" if self.minimum == 0 else f"at least {self.minimum:g}")
        elif self.maximum is not None:
            words.append(f"at most {self.maximum:g}")
        if self.below is not None:
            words.append(f"below {self.below:g}")
        if self.choices:
            words.append("one of " + ", ".join(map(repr, self.choices)))
        return " and ".join(words) + (f" ({self.why})" if self.why else "")


def setting(default: Any, *, doc: str, **bounds: Any) -> Any:
    """One setting, declared once: its default, its Bounds (Settings checks them) and the line
    docs/configuration.md shows (`make docs` writes its table from these)."""
    return dataclasses.field(default=default, metadata={"doc": doc, "bounds": Bounds(**bounds)})


@dataclasses.dataclass(frozen=True)
class Settings:
    """The Variable's keys, each declared once with setting(); __post_init__ checks every field's
    bounds, then the rules that tie settings together."""

    adjust_table: str = setting("adjust.raw_events", doc="The Adjust raw export, `[project.]dataset.table`.")
    amplitude_table: str = setting("amplitude.events", doc="The Amplitude export's events table, `[project.]dataset.table`.")
    output_dataset: str = setting("attribution", doc="Where the output tables go, `[project.]dataset`; made if missing.")
    report_dir: str = setting("reports", doc=(
        "Where reports go: a local folder (under `AIRFLOW_HOME` unless absolute), a `file://` URL, or an "
        "object-storage URL such as `gs://bucket/path` or `s3://bucket/path`. See *Where reports go*."))
    report_conn_id: str | None = setting(None, doc=(
        "The Airflow Connection of `report_dir`'s object store (e.g. `google_cloud_default`, `aws_default`). "
        "Null: the provider's default credentials."))
    report_identifiers: str = setting("masked", choices=("masked", "full"), doc=(
        "Advertising and device ids in the report's CSV: `masked` shows only their last 4 characters, `full` "
        "shows them whole. The warehouse tables always keep them whole. See *Identifiers in reports*."))
    report_public_url: str | None = setting(None, doc=(
        "Where people open `report_dir` (a web server, a bucket's URL, an intranet share): notifications link to "
        "`<report_public_url>/discrepancy_<D>.html`. Null: they show the report's location as written."))
    notify: tuple[NotifyTarget, ...] = setting((), doc=(
        "Who is told after each report that covers a closed window: email lists and Slack channels. "
        "See *Notify targets*."))
    notify_attempts: int = setting(4, minimum=1, doc="Attempts per message and target.")
    notify_backoff_seconds: float = setting(10.0, minimum=0, doc="The first wait between attempts; it doubles after each.")
    notify_timeout_seconds: int = setting(30, minimum=1, doc=(
        "The Slack request's timeout (an SMTP Connection's `timeout` extra sets email's). "
        "The longest a message can take must stay below `claim_ttl_seconds`."))
    significance_level: float = setting(0.95, minimum=0.5, below=1, why="0.95 is 95%", doc=(
        "The level at which the report and the notifications call a change significant; alerts hold it over "
        "every group tested."))
    alert_min_rows: int = setting(200, minimum=1, doc=(
        "A network, a campaign or the total is tested only with at least this many decided rows (matched + "
        "unmatched + no identifier), in the report and in its 30-day baseline."))
    alert_min_drop_points: float = setting(3.0, minimum=0, doc=(
        "A group counts as moved only when its match rate moved at least this many points."))
    activity_kinds: tuple[str, ...] = setting(("install", "reattribution"), doc="Adjust `activity_kind`s in scope.")
    environments: tuple[str, ...] = setting(("production",), doc=(
        "Adjust `environment`s in scope; rows with an empty environment always are."))
    window_hours: int = setting(72, minimum=1, doc=(
        "Amplitude's matching window: a row matches activity up to this many hours after its attribution."))
    lookback_days: int = setting(2, minimum=0, doc="Earlier days each run re-reads for late Adjust rows.")
    rate_limit_per_second: float = setting(100.0, positive=True, doc=(
        "Ceiling on requests per second (Amplitude's Starter plan), shared by every push of every run at once; "
        "requests are spaced evenly, never in bursts."))
    max_in_flight: int = setting(32, minimum=1, doc="Requests in flight at once per push partition, over one pooled HTTP session.")
    push_partitions: int = setting(1, minimum=1, maximum=256, why="rows hash into 256 buckets", doc=(
        "Mapped push tasks per run, and the most pushes of the DAG that run at once across all runs; at most "
        "`rate_limit_per_second`. Read when the DAG is parsed (docs/exactly-once.md: *One rate limit for every run and partition*)."))
    report_deadline_utc: str | None = setting("06:00", doc=(
        "A day's report is due at this UTC time the day after it (`HH:MM` or `HH:MM:SS`); a run not finished by "
        "then is told to the notify targets (an Airflow deadline alert, read when the DAG is parsed; docs/report-and-alerts.md: "
        "*The report deadline*). Null: no deadline."))
    max_reject_ratio: float = setting(0.01, minimum=0, maximum=1, doc=(
        "Share of pushed rows Amplitude may refuse before the run fails (after the report is written)."))
    max_invalid_ratio: float = setting(0.05, minimum=0, maximum=1, doc=(
        "Share of the day's Adjust rows (and of the undated rows read, once there are 20) validation may reject "
        "before the run fails (after the report is written; docs/rules.md: *The validation gate*)."))
    created_at_floor: str = setting("2012-01-01", doc="A `created_at` before this date (UTC) is `implausible_created_at`.")
    placeholder_identifiers: tuple[str, ...] = setting(
        ("unknown", "null", "(null)", "nil", "none", "undefined", "n/a", "0", "-"), doc=(
            "Identifier values many devices share, treated as missing: compared trimmed and case-insensitive; "
            "empty and all-zero values always are (docs/rules.md, rule 4)."))
    max_devices_per_identifier: int = setting(10, minimum=1, doc=(
        "An identifier Amplitude shows on more devices than this is no match key (docs/rules.md, rule 5)."))
    amplitude_late_days: int = setting(3, minimum=0, doc=(
        "Days of Amplitude events each run re-reads behind the identity index's watermark, for late uploads "
        "(docs/rules.md, rule 5)."))
    open_days: int = setting(10, doc=(
        "How far back (days before the run's day) a run looks for rows still open: pending, matched but not yet "
        "sent, or invalid and not yet reported. Every statement on a partitioned output table reads only these "
        "days. At least `lookback_days` + the window in days + 1."))
    adjust_partition_column: str | None = setting(None, doc=(
        "The Adjust table's partition column (DATE, TIMESTAMP or DATETIME) or pseudo-column (`_PARTITIONDATE`, "
        "`_PARTITIONTIME`), a date at or after each row's `created_at` day: staging then reads only the partitions "
        "[D − `lookback_days`, D + 1]. Null: the whole table, every run."))
    event_type_prefix: str = setting("[Adjust]", doc="Events are named `<prefix> Install` and `<prefix> Reattribution`.")
    user_properties: tuple[tuple[str, str], ...] = setting(DEFAULT_USER_PROPERTIES, doc=(
        "The Adjust columns sent as the event's user properties, each with its name in Amplitude: an object "
        "`{\"<column>\": \"<name>\"}` that replaces the default; `{}` sends none (docs/rules.md: *What Amplitude receives*)."))
    push_page_size: int = setting(5000, minimum=1, doc="Matched rows read per page while pushing.")
    ledger_flush_rows: int = setting(100, minimum=1, doc=(
        "The crash bound in rows: outcomes reach the push journal before more than the larger of this and half "
        "a second of sending are unrecorded (docs/exactly-once.md: *The journal and crash safety*)."))
    connect_timeout_seconds: float = setting(5.0, positive=True, doc="HTTP connect timeout to Amplitude.")
    read_timeout_seconds: float = setting(30.0, positive=True, doc=(
        "HTTP read timeout to Amplitude, for each wait on the network and for the whole answer: a request not "
        "fully answered within `connect_timeout_seconds` + this is abandoned as a timeout and retried."))
    max_attempts: int = setting(6, minimum=1, doc="Attempts per event on 429, 5xx and connection errors.")
    backoff_max_seconds: float = setting(60.0, doc="Longest wait between attempts; `Retry-After` is honoured up to this.")
    claim_ttl_seconds: float = setting(600.0, minimum=30, why="a push shows it is alive every third of it", doc=(
        "How long a push's claims outlive its last sign of life before another run may take its rows "
        "(docs/exactly-once.md: *Claims: runs that overlap*)."))
    maximum_bytes_billed: int = setting(2**40, minimum=1, doc=(
        "BigQuery: the cap on every job's billed bytes (1 TiB); a job that would bill more fails before it runs."))

    def __post_init__(self) -> None:
        # Lists of codes compare trimmed and lower-cased, however the settings were made.
        for name in _CODE_LISTS:
            object.__setattr__(self, name, tuple(v.strip().lower() for v in getattr(self, name)))
        for field in dataclasses.fields(self):
            value, bounds = getattr(self, field.name), field.metadata["bounds"]
            # Python's JSON reader accepts Infinity and NaN, which pass or fail comparisons at random.
            if isinstance(value, float) and not math.isfinite(value):
                raise SettingsError(f"{SETTINGS_VARIABLE}.{field.name} = {value!r} must be a finite number")
            if not bounds.allows(value):
                # A text is shown, since a typo is its likely fault; for a number the rule says enough.
                shown = f" = {value!r}" if bounds.choices else ""
                raise SettingsError(f"{SETTINGS_VARIABLE}.{field.name}{shown} must be {bounds.rule()}")
        # The rules no single setting's bounds can say.
        validate_table_name(self.adjust_table, "adjust_table")
        validate_table_name(self.amplitude_table, "amplitude_table")
        validate_dataset_name(self.output_dataset, "output_dataset")
        if self.adjust_partition_column is not None and not re.fullmatch(_PART, self.adjust_partition_column):
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.adjust_partition_column = {self.adjust_partition_column!r} is not a column name"
            )
        if not self.activity_kinds:
            raise SettingsError(f"{SETTINGS_VARIABLE}.activity_kinds must not be empty")
        if not self.event_type_prefix.strip():
            raise SettingsError(f"{SETTINGS_VARIABLE}.event_type_prefix must not be empty")
        try:
            dt.date.fromisoformat(self.created_at_floor)
        except ValueError:
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.created_at_floor = {self.created_at_floor!r} is not a date like '2012-01-01'"
            ) from None
        if self.report_deadline_utc is not None and not _DEADLINE.fullmatch(self.report_deadline_utc):
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.report_deadline_utc = {self.report_deadline_utc!r} should be a UTC time like "
                "'06:00' (or '06:00:30'), or null for no deadline"
            )
        # The open days must hold every row a run can still change: those it reads, and their windows.
        least_open = self.lookback_days + -(-self.window_hours // 24) + 1
        if self.open_days < least_open:
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.open_days = {self.open_days} must be at least lookback_days + the window in "
                f"days + 1 = {least_open}: rows still open must lie within the days a run reads"
            )
        # Each sender may put a whole number of requests in any second; below one, senders that
        # start together would send more than the limit in their first second.
        if self.push_partitions > self.rate_limit_per_second:
            raise SettingsError(
                f"{SETTINGS_VARIABLE}.push_partitions = {self.push_partitions} must be at most rate_limit_per_second "
                f"({self.rate_limit_per_second:g}): each partition sends at least one request a second of the limit"
            )
        labels = [t.label for t in self.notify]
        if len(set(labels)) < len(labels):
            raise SettingsError(f"{SETTINGS_VARIABLE}.notify names a target twice ({', '.join(labels)}); give each a distinct `name`")
        # A message's attempts must end before its claim lapses, or another run could send it too.
        if self.notify and self.notify_seconds >= self.claim_ttl_seconds:
            raise SettingsError(
                f"{SETTINGS_VARIABLE}: notify_attempts x notify_timeout_seconds plus the backoff ({self.notify_seconds:.0f} s) "
                f"must stay below claim_ttl_seconds ({self.claim_ttl_seconds:.0f} s)"
            )

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


# The settings that are lists of codes (activity kinds, environments, placeholder values).
_CODE_LISTS = ("activity_kinds", "environments", "placeholder_identifiers")
# The settings null leaves unset or turns off: those typed `... | None` (each of them text).
_NULLABLE = frozenset(name for name, hint in get_type_hints(Settings).items() if type(None) in get_args(hint))


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Accept JSON's types for each default's type; reject anything else with the key's name."""
    wrong = SettingsError(f"{SETTINGS_VARIABLE}.{name} = {value!r} should be like {default!r}")
    if name in _NULLABLE:
        if value is not None and not isinstance(value, str):
            raise SettingsError(f"{SETTINGS_VARIABLE}.{name} = {value!r} should be text or null")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong
        return tuple(value)
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
