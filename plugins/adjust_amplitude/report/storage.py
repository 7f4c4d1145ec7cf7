"""Where report files go: a local folder or an object-storage URL, through Airflow's ObjectStoragePath.

Every file is written under a temporary name and then moved into place, so a reader (or the
index) never sees half a report, and a re-run replaces the files whole. A write that fails (a full
disk) removes its temporary file and says which file, and why.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from adjust_amplitude.config import SETTINGS_VARIABLE, Settings, SettingsError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


class ReportWriteError(OSError):
    """A file in the report folder could not be written. Retryable: room can be freed, a mount come back."""


def report_root(settings: Settings) -> ObjectStoragePath:
    """The report folder, made when it is local; a local folder that cannot be made or written
    fails naming the `report_dir` setting, not with the file system's bare error."""
    from airflow.sdk import ObjectStoragePath

    root = ObjectStoragePath(settings.report_url(), conn_id=settings.report_conn_id)
    if root.protocol == "file":  # object stores have no folders to make
        problem = None
        try:
            root.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            problem = "it is a file, not a folder"
        except OSError as exc:
            problem = f"it cannot be made ({exc.strerror or type(exc).__name__})"
        else:
            if not root.is_dir():
                problem = "it is a file, not a folder"
            elif not os.access(root.path, os.W_OK | os.X_OK):
                problem = "this worker may not write in it"
        if problem:
            raise SettingsError(f"{SETTINGS_VARIABLE}.report_dir = {settings.report_dir!r} ({root.path}): {problem}")
    return root


def file_names(run_day: dt.date) -> dict[str, str]:
    """The names of one run's report files in the report folder."""
    stem = f"discrepancy_{run_day.isoformat()}"
    return {"html": f"{stem}.html", "csv": f"{stem}.csv", "json": f"{stem}.json"}


def write_file(path: ObjectStoragePath, data: bytes) -> None:
    with _replacing(path) as out:
        out.write(data)


def copy_file(local: Path, path: ObjectStoragePath, prefix: bytes = b"") -> None:
    """The local file `local` (a warehouse's export), after `prefix`, as `path`, copied a
    megabyte at a time: an outbox or a report's rows can be hundreds of megabytes."""
    with local.open("rb") as source, _replacing(path) as out:
        out.write(prefix)
        shutil.copyfileobj(source, out, 2**20)


@contextlib.contextmanager
def _replacing(path: ObjectStoragePath) -> Iterator[IO[bytes]]:
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as out:
            yield out
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ReportWriteError(_write_failure(path, exc)) from exc


# The failures that room freed on the file system cures (a full disk, a quota).
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT}


def _write_failure(path: ObjectStoragePath, exc: OSError) -> str:
    when = "once there is room (or with report_dir pointing elsewhere)" if exc.errno in _NO_ROOM else "once that is fixed"
    return (f"could not write {location(path)} in the report folder (the report_dir setting): "
            f"{exc.strerror or exc}. Its partial file was removed; the task can be retried {when}")


def location(path: ObjectStoragePath) -> str:
    """What to show people and logs: a plain path for local files, the URL otherwise."""
    return path.path if path.protocol == "file" else str(path)
