"""Running the `airflow` CLI, and waiting on a running Airflow through its REST API.

A wait on Airflow has no right length: a busy machine runs the same tasks three times slower. So a
wait here ends when the awaited state is reached, and fails only when nothing has moved (no run or
task instance changed state) for `stall_seconds`, or after `limit_seconds` in all. When it fails,
it says which runs are stuck in which state and shows the tail of each unfinished task's log.
A CLI command is awaited to its end; its limit only stops one that hangs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
CLI_LIMIT_SECONDS = 1800  # `airflow dags test` of one day: about 10 s on a quiet machine
FINAL_RUN_STATES = {"success", "failed"}
# A scheduler beats every few seconds, however busy the machine: this long without a beat, it is gone.
SCHEDULER_GONE_SECONDS = 300
Runs = dict[tuple[str, str], dict]  # (dag id, run id) -> {"state": ..., "tasks": {task: (state, try, map index)}}


def airflow(*args: str, env: dict[str, str], cwd: Path | None = None) -> None:
    """Run one `airflow` command to its end; fail with its output's tail unless it succeeds."""
    airflow_together([(list(args), env)], cwd=cwd)


def airflow_together(commands: list[tuple[list[str], dict[str, str]]], cwd: Path | None = None) -> None:
    """Start `airflow` commands side by side and wait for all of them. Output goes to files, not
    pipes: a command blocked on a full pipe could hold a lock the other one waits for."""
    started = []
    for args, env in commands:
        out = tempfile.TemporaryFile(mode="w+", errors="replace")
        proc = subprocess.Popen([AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                process_group=0, cwd=cwd)
        started.append((args, proc, out))
    begun = time.monotonic()
    while any(proc.poll() is None for _, proc, _ in started) and time.monotonic() - begun < CLI_LIMIT_SECONDS:
        time.sleep(0.2)
    problems = []
    for args, proc, out in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            problem = f"still running after {CLI_LIMIT_SECONDS} s"
        elif proc.returncode != 0:
            problem = f"exited with {proc.returncode}"
        else:
            out.close()
            continue
        out.seek(0)
        problems.append(f"`airflow {' '.join(args)}` {problem}; output, tail:\n{out.read()[-4000:]}")
        out.close()
    if problems:
        pytest.fail("\n\n".join(problems))


class AirflowApi:
    """The REST API of `airflow standalone` (what its UI calls), signed in as the admin whose
    generated password standalone writes into its home, as the README tells users to sign in."""

    def __init__(self, port: int, home: Path):
        self.base = f"http://127.0.0.1:{port}"
        self.home = home
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base + path, method=method, headers=headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            # Keep what the server said: a bare "503" does not tell what went wrong.
            error.msg = f"{error.msg}: {error.read()[:2000].decode(errors='replace')}"
            raise

    def call(self, method: str, path: str, body: dict | None = None, **params) -> dict:
        if self._token is None:
            passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
            login = {"username": "admin", "password": passwords["admin"]}
            self._token = self._request("POST", "/auth/token", login)["access_token"]
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._request(method, path + query, body, token=self._token)

    def call_while_locked(self, method: str, path: str, body: dict | None = None, attempts: int = 20) -> dict:
        """A call the API server refuses with 503 "Database is locked" while the scheduler writes
        to standalone's SQLite metadata DB (Airflow's backfill route answers so on SQLite), asked
        again as a user would press the button again. A 409 on a repeat means the refused
        request had got far enough to create what it asked for: that is the wanted state."""
        for attempt in range(attempts):
            try:
                return self.call(method, path, body)
            except urllib.error.HTTPError as error:
                if attempt and error.code == 409:
                    return {}
                if error.code != 503 or "locked" not in error.msg.lower() or attempt == attempts - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def get(self, path: str, **params) -> dict:
        return self.call("GET", path, **params)

    def dag_parsed(self, dag_id: str) -> bool:
        try:
            return self.get(f"/api/v2/dags/{dag_id}")["dag_id"] == dag_id
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            return False  # the dag-processor has not parsed its file yet
        except OSError:
            return False  # too busy to answer in time

    def healthy(self) -> bool:
        try:
            return self._request("GET", "/api/v2/monitor/health")["scheduler"]["status"] == "healthy"
        except (OSError, ValueError, KeyError):
            return False  # not listening yet, or answering before the scheduler's first heartbeat

    def scheduler_silence(self) -> float | None:
        """Seconds since the scheduler's last heartbeat, or None when the API cannot say."""
        try:
            beat = self._request("GET", "/api/v2/monitor/health")["scheduler"]["latest_scheduler_heartbeat"]
            return time.time() - dt.datetime.fromisoformat(beat).timestamp()
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def runs(self, dag_id: str) -> dict[str, dict]:
        """The DAG's runs by run id, each with its state and its task instances' states."""
        runs = self.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]
        tasks = self.get(f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances", limit=1000)["task_instances"]
        out = {r["dag_run_id"]: {"state": r["state"], "tasks": {}} for r in runs}
        for ti in tasks:
            if ti["dag_run_id"] in out:
                key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
                out[ti["dag_run_id"]]["tasks"][key] = (ti["state"], ti["try_number"], ti["map_index"])
        return out


def wait_until(predicate: Callable[[], bool], what: str, log: Path, limit_seconds: float = 900) -> None:
    """For a state with no steps to watch (a server coming up, a file being parsed)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > limit_seconds:
            pytest.fail(f"waited {limit_seconds:.0f} s for {what}; standalone output, tail:\n"
                        f"{log.read_text(errors='replace')[-4000:]}")
        time.sleep(1)


def all_finished(runs: Runs) -> bool:
    return bool(runs) and all(r["state"] in FINAL_RUN_STATES for r in runs.values())


def wait_for_runs(api: AirflowApi, dag_ids: list[str], done: Callable[[Runs], bool], what: str,
                  log: Path, stall_seconds: float = 600, limit_seconds: float = 2400) -> Runs:
    """Poll the runs of `dag_ids` until `done(runs)` holds."""
    started = moved = time.monotonic()
    runs: Runs = {}
    unanswered = ""
    while True:
        try:
            now_runs = {(dag_id, run_id): run for dag_id in dag_ids for run_id, run in api.runs(dag_id).items()}
            unanswered = ""
        except OSError as error:  # an API server too busy to answer in time is not a stuck run
            now_runs, unanswered = runs, f"\nthe last request to the API failed: {error}"
        if done(now_runs):
            return now_runs
        if now_runs != runs:
            runs, moved = now_runs, time.monotonic()
        now = time.monotonic()
        if now - moved > stall_seconds or now - started > limit_seconds:
            pytest.fail(f"waited {now - started:.0f} s for {what}; nothing changed for the last "
                        f"{now - moved:.0f} s.{unanswered}\n{describe(runs, api.home, log)}")
        silence = api.scheduler_silence() if now - moved > SCHEDULER_GONE_SECONDS else None
        if silence is not None and silence > SCHEDULER_GONE_SECONDS:  # no run can move again: say so now
            pytest.fail(f"waited {now - started:.0f} s for {what}; the scheduler's last heartbeat was "
                        f"{silence:.0f} s ago.\n{describe(runs, api.home, log)}")
        time.sleep(2)


def describe(runs: Runs, home: Path, log: Path) -> str:
    """Each run that has not succeeded, its state and its tasks by state, the log tail of each of
    its tasks that started and did not succeed; then the tail of standalone's own output."""
    succeeded = sum(r["state"] == "success" for r in runs.values())
    lines = [f"{len(runs)} runs, {succeeded} succeeded" + ("; the others:" if succeeded < len(runs) else "")]
    tails = []
    for (dag_id, run_id), run in sorted(runs.items()):
        if run["state"] == "success":
            continue
        by_state: dict[str, list[str]] = {}
        for task, (state, try_number, map_index) in sorted(run["tasks"].items()):
            by_state.setdefault(state or "not scheduled yet", []).append(task)
            if try_number >= 1 and state not in ("success", "skipped", "removed"):
                tails.append(f"\n--- {dag_id} {run_id} {task}: {state} (try {try_number}); log tail:\n"
                             + task_log_tail(home, dag_id, run_id, task.split("[")[0], map_index, try_number))
        tasks = "; ".join(f"{state}: {', '.join(names)}" for state, names in by_state.items())
        lines.append(f"{dag_id} {run_id}: {run['state']} (tasks {tasks or 'none yet'})")
    lines += tails
    output = log.read_text(errors="replace")
    # The components' lines interleave, the API server's and dag-processor's the most: show the
    # scheduler's and the triggerer's own last lines too.
    for component in ("scheduler", "triggerer"):
        own = [line[:400] for line in output.splitlines() if line.startswith(f"{component} ")][-15:]
        lines.append(f"\n--- {component}, its last lines:\n" + "\n".join(own))
    lines.append(f"\n--- standalone output, tail:\n{output[-3000:]}")
    return "\n".join(lines)


def task_log_tail(home: Path, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int,
                  lines: int = 12) -> str:
    """The last lines of a task's log (Airflow's default file layout), as `time level event`."""
    folder = home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    if map_index >= 0:
        folder = folder / f"map_index={map_index}"
    path = folder / f"attempt={try_number}.log"
    if not path.exists():
        return f"(no log at {path} yet)"
    shown = []
    for line in path.read_text(errors="replace").splitlines()[-lines:]:
        try:  # task logs are JSON lines
            record = json.loads(line)
            shown.append(f"{record.get('timestamp', '')} {record.get('level', '')} {record.get('event', '')}")
        except (ValueError, AttributeError):
            shown.append(line)
    return "\n".join(shown)
