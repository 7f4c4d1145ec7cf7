"""The Airflow versions this project supports, checked in one place, and the names whose home
differs between them.

The DAG file imports this module first: on an Airflow outside the range its import fails with one
sentence naming the version found and the range, which the UI shows as the DAG's import error,
instead of a missing name deep in the code. Kept light (no warehouse or HTTP library), since the
dag-processor parses the DAG file every few seconds.
"""

from __future__ import annotations

# Cloud Composer 3's older line (3.1) up to the newest 3.x; README: Deploy says which versions
# `make test-compat` runs on.
SUPPORTED_AIRFLOW = ">=3.1,<4"


class UnsupportedAirflowError(ImportError):
    """This Airflow is outside SUPPORTED_AIRFLOW."""


def check_airflow_version(version: str | None = None) -> str:
    """The running Airflow's version, once it is known to be supported."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    if version is None:
        from airflow import __version__ as version
    try:
        # A pre-release (3.4.0b1) or a local build (3.3.2+composer) counts as its release.
        supported = Version(Version(version).base_version) in SpecifierSet(SUPPORTED_AIRFLOW)
    except InvalidVersion:
        supported = False
    if not supported:
        raise UnsupportedAirflowError(
            f"adjust-amplitude-sync supports Apache Airflow {SUPPORTED_AIRFLOW} (3.1 and newer 3.x); "
            f"this is Airflow {version}. Use a platform image of a supported Airflow (README: Deploy)."
        )
    return version


check_airflow_version()

try:  # the Task SDK exports it from Airflow 3.2 on
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # Airflow 3.1
    from airflow.timetables.interval import CronDataIntervalTimetable  # type: ignore[no-redef]

try:  # the Task SDK exports the deadline alerts from Airflow 3.2 on
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference
except ImportError:  # Airflow 3.1, where they are experimental
    from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference  # type: ignore[no-redef]

__all__ = ["SUPPORTED_AIRFLOW", "AsyncCallback", "CronDataIntervalTimetable", "DeadlineAlert", "DeadlineReference",
           "UnsupportedAirflowError", "check_airflow_version"]
