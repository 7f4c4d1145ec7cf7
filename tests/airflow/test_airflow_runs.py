"""The test helpers that wait on Airflow: a refused-while-locked API call is asked again; a wait on
runs ends at once when the scheduler is gone."""

from __future__ import annotations

import json
import threading
import urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_runs import AirflowApi, wait_for_runs


def api_answering(answers: list[tuple[int, str]]) -> tuple[AirflowApi, list, ThreadingHTTPServer]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(self.path)
            status, body = answers.pop(0) if self.path != "/auth/token" else (201, '{"access_token": "t"}')
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = AirflowApi(server.server_address[1], home=None)
    return api, seen, server


LOCKED = (503, json.dumps({"detail": "Database is locked. Backfill creation is not supported on SQLite"}))


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    import airflow_runs

    monkeypatch.setattr(airflow_runs.time, "sleep", lambda s: None)
    monkeypatch.setattr(AirflowApi, "call", lambda self, m, p, b=None: self._request(m, p, b, token="t"))


def test_a_call_refused_while_the_db_is_locked_is_asked_again():
    api, seen, server = api_answering([LOCKED, LOCKED, (200, '{"id": 7}')])
    try:
        assert api.call_while_locked("POST", "/api/v2/backfills", {}) == {"id": 7}
        assert seen == ["/api/v2/backfills"] * 3
    finally:
        server.shutdown()


def test_a_conflict_after_a_locked_answer_is_the_wanted_state_but_not_at_first():
    api, seen, server = api_answering([LOCKED, (409, '{"detail": "already a running backfill"}'),
                                       (409, '{"detail": "already a running backfill"}')])
    try:
        assert api.call_while_locked("POST", "/api/v2/backfills", {}) == {}
        with pytest.raises(urllib.error.HTTPError, match="already a running backfill"):
            api.call_while_locked("POST", "/api/v2/backfills", {})
    finally:
        server.shutdown()


def test_other_refusals_are_not_asked_again():
    api, seen, server = api_answering([(503, '{"detail": "scheduler down"}')])
    try:
        with pytest.raises(urllib.error.HTTPError, match="scheduler down"):
            api.call_while_locked("POST", "/api/v2/backfills", {})
        assert len(seen) == 1
    finally:
        server.shutdown()


class StuckApi(AirflowApi):
    """An Airflow whose one run never moves, and whose scheduler last beat `silence` seconds ago."""

    def __init__(self, silence: float) -> None:
        super().__init__(0, home=None)
        self.silence = silence

    def runs(self, dag_id: str) -> dict[str, dict]:
        return {"run": {"state": "running", "tasks": {}}}

    def scheduler_silence(self) -> float:
        return self.silence


@pytest.fixture
def clock(monkeypatch):
    """Each reading of the monotonic clock is 10 s after the one before."""
    import airflow_runs

    now = iter(range(0, 10**6, 10))
    monkeypatch.setattr(airflow_runs.time, "monotonic", lambda: next(now))


def test_a_wait_ends_once_the_scheduler_has_stopped_beating_and_says_so(clock, tmp_path):
    log = tmp_path / "standalone.log"
    log.write_text("scheduler  | Starting the scheduler\napi-server | request finished\n")
    with pytest.raises(pytest.fail.Exception, match="the scheduler's last heartbeat was 400 s ago") as failed:
        wait_for_runs(StuckApi(silence=400), ["dag"], lambda runs: False, "the run", log)
    assert "nothing changed" not in str(failed.value)
    # its own last lines, apart from the other components'
    assert "--- scheduler, its last lines:\nscheduler  | Starting the scheduler" in str(failed.value)


def test_a_wait_on_a_beating_scheduler_lasts_until_nothing_has_moved_for_the_stall(clock, tmp_path):
    log = tmp_path / "standalone.log"
    log.write_text("")
    with pytest.raises(pytest.fail.Exception, match="nothing changed for the last 6[0-9]0 s"):
        wait_for_runs(StuckApi(silence=3), ["dag"], lambda runs: False, "the run", log)
