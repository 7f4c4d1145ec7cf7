"""Where report files go: a local folder or an object-storage URL, through Airflow's ObjectStoragePath.

Every file is written under a temporary name and then moved into place, so a reader (or the
index) never sees half a report, and a re-run replaces the files whole.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from adjust_amplitude.config import Settings

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


def report_root(settings: Settings) -> ObjectStoragePath:
    from airflow.sdk import ObjectStoragePath

    root = ObjectStoragePath(settings.report_url(), conn_id=settings.report_conn_id)
    if root.protocol == "file":
        root.mkdir(parents=True, exist_ok=True)  # object stores have no folders to make
    return root


def file_names(run_day: dt.date) -> dict[str, str]:
    """The names of one run's report files in the report folder."""
    stem = f"discrepancy_{run_day.isoformat()}"
    return {"html": f"{stem}.html", "csv": f"{stem}.csv", "json": f"{stem}.json"}


def write_file(path: ObjectStoragePath, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


def location(path: ObjectStoragePath) -> str:
    """What to show people and logs: a plain path for local files, the URL otherwise."""
    return path.path if path.protocol == "file" else str(path)
