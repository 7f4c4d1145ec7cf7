"""A run's Plan, decided once, and the Run each task makes from it.

`plan_day` makes the Plan once per DAG run: the day, the run id, a snapshot of the settings and the
Params. It travels between tasks as XCom, as plain JSON (to_xcom / from_xcom: Airflow deserialises
only its own classes unless told otherwise, and a managed platform's configuration is not ours), so
every task of a run, and every retry, works with the same settings even if the Variable changes
meanwhile. Each task makes one Run from it: the plan, the run's window, its tables and a warehouse.

A task's warehouse usage (jobs, bytes billed) is kept beside its result (`step`), not in it, so
tasks pass data only; summarise_run collects it (`recorded_usage`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from adjust_amplitude.config import Settings, load_settings
from adjust_amplitude.run_day import RunWindow
from adjust_amplitude.tables import RunTables, run_tables
from adjust_amplitude.warehouse import Warehouse, warehouse_from_connection

USAGE_KEY = "usage"  # the XCom key of each task's warehouse usage


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a run decided when it was planned; every task of the run reads it, none changes it."""

    day: dt.date
    run_id: str
    settings: Settings
    dry_run: bool = False
    notify: bool = True
    rebuild_amplitude_index: bool = False
    # Send again, once, the rows Amplitude refused in the run's open days (push.Push.reopen_rejected).
    resend_rejected: bool = False
    # When the run was planned (Unix seconds): every task of the run, and its retries, judge "the
    # future" alike.
    planned_at: int = dataclasses.field(default_factory=lambda: int(time.time()))

    @classmethod
    def from_params(cls, day: dt.date, run_id: str, params: Mapping[str, Any]) -> Plan:
        """A DAG run's plan from its Params (or a run's conf, where Params are not filled in): the
        settings as the Variable holds them now, with the Param lookback_days over them."""
        return cls(
            day=day,
            run_id=run_id,
            settings=load_settings(lookback_days=params.get("lookback_days")),
            dry_run=bool(params.get("dry_run", False)),
            notify=bool(params.get("notify", True)),
            rebuild_amplitude_index=bool(params.get("rebuild_amplitude_index", False)),
            resend_rejected=bool(params.get("resend_rejected", False)),
        )

    def to_xcom(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "day": self.day.isoformat(), "settings": self.settings.to_json()}

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> Plan:
        return cls(**{**data, "day": dt.date.fromisoformat(data["day"]), "settings": Settings.from_mapping(json.loads(data["settings"]))})


def task_instance():
    """The running Airflow task instance, or None outside a task (a test, a benchmark, a notebook)."""
    from airflow.sdk import get_current_context

    try:
        return get_current_context()["ti"]
    except RuntimeError:
        return None


class Run:
    """Everything a step needs, made once per task from the plan."""

    def __init__(self, plan: Plan, warehouse: Warehouse | None = None) -> None:
        self.plan = plan
        self.settings = plan.settings
        self.day = plan.day
        self.window = RunWindow(self.day, self.settings.lookback_days, self.settings.window_hours, self.settings.open_days)
        self.tables: RunTables = run_tables(self.settings, self.day, plan.run_id)
        self.warehouse = warehouse or warehouse_from_connection()
        self.warehouse.label_jobs(job_labels(self.day), self.settings.maximum_bytes_billed)

    @classmethod
    def from_xcom(cls, plan: Mapping[str, Any], warehouse: Warehouse | None = None) -> Run:
        return cls(Plan.from_xcom(plan), warehouse)

    @property
    def run_id(self) -> str:
        return self.plan.run_id

    @property
    def dry_run(self) -> bool:
        return self.plan.dry_run

    @property
    def t(self):
        """The table names as the SQL templates see them (quoted)."""
        return self.tables.quoted()

    def claim_owner(self, part: int | str) -> str:
        """Who holds a push's claims (run id|partition|try), or the notifications' (run id|notify|try).
        A retry of the same run and part takes its claims over at once; anyone else waits until
        they lapse."""
        ti = task_instance()
        # Outside an Airflow task every call is an attempt of its own.
        attempt = str(ti.try_number) if ti else uuid.uuid4().hex[:12]
        return f"{self.run_id}|{part}|{attempt}"

    def usage(self, step: str) -> dict[str, Any]:
        """The warehouse jobs (and bytes) this Run's statements cost, as the run record keeps them."""
        return {"step": step, **dataclasses.asdict(self.warehouse.usage)}


def job_labels(day: dt.date) -> dict[str, str]:
    """Labels on every BigQuery job, so billing can be broken down by DAG, task and day."""
    ti = task_instance()
    labels = {"dag_id": ti.dag_id if ti else "none", "task_id": ti.task_id if ti else "none", "run_day": day.isoformat()}
    # BigQuery label values: lower-case letters, digits, _ and -, at most 63 characters.
    return {k: re.sub(r"[^a-z0-9_-]", "_", v.lower())[:63] for k, v in labels.items()}


@contextlib.contextmanager
def step(plan: Mapping[str, Any], name: str) -> Iterator[Run]:
    """A DAG task's Run, made from the plan's XCom; once the task's work is done, its warehouse
    usage is kept as XCom `usage` for summarise_run."""
    run = Run.from_xcom(plan)
    yield run
    ti = task_instance()
    if ti is not None:
        ti.xcom_push(key=USAGE_KEY, value=run.usage(name))


def recorded_usage(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The usage each task upstream of the running one kept (`step`), in the DAG's task order."""
    upstream = context["task"].get_flat_relative_ids(upstream=True)
    ids = [task_id for task_id in context["dag"].task_ids if task_id in upstream]
    found = context["ti"].xcom_pull(task_ids=ids, key=USAGE_KEY)
    return [u for u in found or () if u]
