"""Tests of AmplitudeAttributionHook against real HTTP servers on 127.0.0.1.

Two kinds of server are used, both real sockets (no HTTP mocking):
- pytest-httpserver, for ordinary request/response exchanges;
- a small scripted HTTP/1.1 server (below), for what pytest-httpserver cannot do:
  resetting connections, answering nothing, stalling, trickling an answer, counting TCP connections.

The hook's `sleep` is replaced by a recorder, so retries cost no wall-clock time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import http.server
import json
import logging
import socket
import socketserver
import struct
import threading
import time
from urllib.parse import parse_qs

import pytest
from pytest_httpserver import HTTPServer

from adjust_amplitude.amplitude_hook import (
    MAX_REFUSED_IN_A_ROW,
    STOPS,
    AmplitudeAttributionHook,
    AmplitudeAuthError,
    AmplitudeRepeatedRefusalError,
    Meaning,
    RetryPolicy,
    SendOutcome,
    Verdict,
    attribution_url,
    classify,
    parse_retry_after,
)

CONN_ENV = "AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION"
API_KEY = "test-key-5f2a9c"  # distinctive, so "the key leaked" checks cannot pass by accident

EVENT = {
    "event_type": "[Adjust] Install",
    "platform": "ios",
    "time": 1_700_000_000_000,
    "idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC",
    "idfv": "7B2C1E44-0F0A-4F11-9A8E-3C1D2E3F4A5B",
    "user_properties": {
        "[Adjust] network": "Facebook Installs",
        "[Adjust] campaign": "Été 2024 <script>alert(1)</script> & more=+%",
    },
}


# --------------------------------------------------------------------------- fixtures


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture(scope="module")
def _local_http_server():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def server(_local_http_server):
    """A pytest-httpserver bound to 127.0.0.1, cleared for each test."""
    _local_http_server.clear()
    yield _local_http_server
    _local_http_server.clear()


def set_connection(monkeypatch, base_url: str, password: str | None = API_KEY, env: str = CONN_ENV) -> None:
    conn = {"conn_type": "http", "host": base_url.rstrip("/")}
    if password is not None:
        conn["password"] = password
    monkeypatch.setenv(env, json.dumps(conn))


@pytest.fixture
def connected(monkeypatch, server):
    """The amplitude_attribution Connection points at the pytest-httpserver."""
    set_connection(monkeypatch, server.url_for("/"))
    return server


def make_hook(sleeps, **policy) -> AmplitudeAttributionHook:
    policy.setdefault("max_attempts", 4)
    policy.setdefault("connect_timeout_seconds", 2.0)
    policy.setdefault("read_timeout_seconds", 5.0)
    return AmplitudeAttributionHook(retry=RetryPolicy(**policy), sleep=sleeps)


# --------------------------------------------------------------- scripted raw server


class _ScriptedHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to each keep-alive request

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        srv: ScriptedServer = self.server  # type: ignore[assignment]
        with srv.lock:
            srv.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            action = srv.actions.pop(0) if srv.actions else srv.default
        kind = action[0]
        if kind == "drop":
            # Read the request, answer nothing, close: the client sees the connection end.
            self.close_connection = True
            return
        if kind == "stall":
            srv.stop.wait(action[1])
            if srv.stop.is_set():
                self.close_connection = True
                return
            action = ("respond", 200, {}, b"success")
        if kind == "trickle":
            self.trickle(*action[1:])
            return
        _, status, headers, payload = action
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def trickle(self, part: str, seconds_per_byte: float) -> None:
        """Answer `success`, its status line and headers (part "head") or its body ("body") one byte
        at a time: each byte well within a read timeout, the whole of it far beyond."""
        srv: ScriptedServer = self.server  # type: ignore[assignment]
        body = b"success" + b" " * 40
        head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"." * 40 + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        answer = head + body
        slow_from, slow_to = (0, len(head)) if part == "head" else (len(head), len(answer))
        self.close_connection = True
        self.connection.sendall(answer[:slow_from])
        for i in range(slow_from, slow_to):
            self.connection.sendall(answer[i:i + 1])
            if srv.stop.wait(seconds_per_byte):
                return
        self.connection.sendall(answer[slow_to:])

    def log_message(self, *args) -> None:
        pass


class ScriptedServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """HTTP/1.1 server on 127.0.0.1 whose answers follow a script.

    `reset_connections`: the first N accepted TCP connections are reset (RST) at once.
    `actions`: one per request, in order; then `default`. An action is
      ("respond", status, headers, body) | ("drop",) | ("stall", seconds)
      | ("trickle", "head" or "body", seconds per byte).
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, actions=(), reset_connections: int = 0) -> None:
        self.actions = list(actions)
        self.default = ("respond", 200, {}, b"success")
        self.reset_remaining = reset_connections
        self.connections = 0
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def process_request(self, request, client_address) -> None:
        with self.lock:
            self.connections += 1
            reset = self.reset_remaining > 0
            if reset:
                self.reset_remaining -= 1
        if reset:
            # SO_LINGER with a zero timeout makes close() send RST: "connection reset by peer".
            request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.close()
            return
        super().process_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        pass  # broken pipes to clients that gave up are expected here


@pytest.fixture
def scripted(monkeypatch):
    """Factory: start a ScriptedServer and point the Connection at it."""
    started: list[ScriptedServer] = []

    def start(actions=(), reset_connections: int = 0) -> ScriptedServer:
        srv = ScriptedServer(actions, reset_connections)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append(srv)
        set_connection(monkeypatch, srv.base_url)
        return srv

    yield start
    for srv in started:
        srv.stop.set()
        srv.shutdown()
        srv.server_close()


# ------------------------------------------------------- classification of one answer

PORTAL = "<html><body>Sign in to the captive portal</body></html>"


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "expected"),
    [
        (200, "success", None, Verdict(Meaning.SENT)),
        (200, "  Success\r\n", None, Verdict(Meaning.SENT)),
        (204, "SUCCESS", None, Verdict(Meaning.SENT)),
        (200, "success", "5", Verdict(Meaning.SENT)),  # Retry-After means nothing on a success
        (200, PORTAL, None, Verdict(Meaning.UNEXPECTED)),
        (200, '{"code":200}', None, Verdict(Meaning.UNEXPECTED)),
        (200, "", None, Verdict(Meaning.UNEXPECTED)),
        (201, "successful", None, Verdict(Meaning.UNEXPECTED)),
        (429, "slow down", None, Verdict(Meaning.RETRY)),
        (429, "slow down", "5", Verdict(Meaning.RETRY, 5.0)),
        (429, "slow down", "0", Verdict(Meaning.RETRY, 0.0)),
        (429, "success", "soon", Verdict(Meaning.RETRY)),  # the body of a non-2xx does not matter
        (500, "oops", None, Verdict(Meaning.RETRY)),
        (502, "", None, Verdict(Meaning.RETRY)),
        (503, "down", "120", Verdict(Meaning.RETRY, 120.0)),
        (504, "", None, Verdict(Meaning.RETRY)),
        (None, "ConnectionError", None, Verdict(Meaning.RETRY)),
        (None, "ReadTimeout", None, Verdict(Meaning.RETRY)),
        (400, '{"error": "invalid idfa format"}', None, Verdict(Meaning.REJECTED)),
        (400, "success", "5", Verdict(Meaning.REJECTED)),
        (404, "", None, Verdict(Meaning.REJECTED)),
        (413, "", None, Verdict(Meaning.REJECTED)),
        (422, "", None, Verdict(Meaning.REJECTED)),
        (501, "not implemented", None, Verdict(Meaning.REJECTED)),  # a 5xx that retrying cannot mend
        (301, "", None, Verdict(Meaning.REDIRECT)),
        (302, "success", None, Verdict(Meaning.REDIRECT)),
        (304, "", None, Verdict(Meaning.REDIRECT)),
        (307, "", "5", Verdict(Meaning.REDIRECT)),
        (308, "", None, Verdict(Meaning.REDIRECT)),
        (401, "invalid api_key", None, Verdict(Meaning.KEY_REFUSED)),
        (403, "forbidden", "5", Verdict(Meaning.KEY_REFUSED)),
    ],
)
def test_classify(status, body, retry_after, expected):
    assert classify(status, body, retry_after) == expected


def test_classify_takes_a_retry_after_date_as_seconds_from_now():
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    verdict = classify(503, "", email.utils.format_datetime(when, usegmt=True))
    assert verdict.meaning is Meaning.RETRY and 25.0 < verdict.retry_after <= 30.0


def test_only_a_redirect_and_a_refused_key_stop():
    assert STOPS == {Meaning.REDIRECT, Meaning.KEY_REFUSED}


# ---------------------------------------------------------------------- retry policy


def test_policy_allows_max_attempts_in_all():
    policy = RetryPolicy(max_attempts=3)
    assert [policy.another_attempt(n) for n in (1, 2, 3, 4)] == [True, True, False, False]


@pytest.mark.parametrize("attempts", [0, -1])
def test_policy_needs_at_least_one_attempt(attempts):
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=attempts)


@pytest.mark.parametrize(("retry_after", "expected"), [(7.0, 7.0), (0.0, 0.0), (60.0, 60.0), (3600.0, 60.0)])
def test_policy_waits_what_retry_after_asks_up_to_the_cap(retry_after, expected):
    policy = RetryPolicy(backoff_base_seconds=0.5, backoff_max_seconds=60.0)
    assert policy.wait(4, retry_after) == expected  # not the backoff of attempt 4, even for 0


def test_policy_backoff_doubles_each_attempt_with_jitter_up_to_the_cap():
    policy = RetryPolicy(backoff_base_seconds=0.5, backoff_max_seconds=10.0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (6, 10.0), (12, 10.0)]:
        waits = [policy.wait(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), (attempt, min(waits), max(waits))
        # Jittered over the whole range, so parallel senders do not retry in step.
        assert min(waits) < 0.75 * ceiling < max(waits), (attempt, min(waits), max(waits))


def test_policy_cap_below_the_base_caps_the_backoff():
    policy = RetryPolicy(backoff_base_seconds=10.0, backoff_max_seconds=0.2)
    assert all(0.1 <= policy.wait(attempt) <= 0.2 for attempt in range(1, 8))


# ------------------------------------------------------------ payload and encoding


def test_posts_form_encoded_key_and_event_json_to_attribution(connected, sleeps):
    connected.expect_request("/attribution", method="POST").respond_with_data("success")
    hook = make_hook(sleeps)

    outcome = hook.send(EVENT)

    assert outcome == SendOutcome("sent", 200, 1, "success")
    assert len(connected.log) == 1
    request = connected.log[0][0]
    assert request.method == "POST"
    assert request.path == "/attribution"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert set(request.form.keys()) == {"api_key", "event"}
    assert request.form["api_key"] == API_KEY
    assert json.loads(request.form["event"]) == EVENT
    # The key travels in the body only.
    assert request.query_string == b""
    assert API_KEY not in request.url
    assert hook.url == connected.url_for("/attribution")
    assert hook.retries == 0
    assert sleeps.calls == []


def test_form_body_is_utf8_url_encoded_and_parses_back(scripted, sleeps):
    srv = scripted()
    outcome = make_hook(sleeps).send(EVENT)

    assert outcome.status == "sent"
    (req,) = srv.requests
    assert req["path"] == "/attribution"
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    raw = req["body"].decode("ascii")  # url-encoded: pure ASCII on the wire
    fields = parse_qs(raw, strict_parsing=True, encoding="utf-8")
    assert fields["api_key"] == [API_KEY]
    assert json.loads(fields["event"][0]) == EVENT
    assert "<" not in raw and " " not in raw and "É" not in raw  # special characters were escaped
    assert raw.count("&") == 1  # the '&' inside the campaign name did not split the form


# ----------------------------------------------------------------------- 429 handling


def test_429_with_retry_after_seconds_then_200(connected, sleeps):
    connected.expect_ordered_request("/attribution", method="POST").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "1"}
    )
    connected.expect_ordered_request("/attribution", method="POST").respond_with_data("success")
    hook = make_hook(sleeps)

    outcome = hook.send(EVENT)

    assert outcome.status == "sent"
    assert outcome.http_status == 200
    assert outcome.attempts == 2
    assert sleeps.calls == [1.0]
    assert hook.retries == 1
    assert len(connected.log) == 2
    connected.check_assertions()


def test_429_with_retry_after_http_date_then_200(connected, sleeps):
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    connected.expect_ordered_request("/attribution").respond_with_data(
        "slow down", status=429, headers={"Retry-After": email.utils.format_datetime(when, usegmt=True)}
    )
    connected.expect_ordered_request("/attribution").respond_with_data("success")
    hook = make_hook(sleeps)

    outcome = hook.send(EVENT)

    assert (outcome.status, outcome.attempts) == ("sent", 2)
    assert len(sleeps.calls) == 1
    # The date has one-second resolution; the wait is what is left until then.
    assert 25.0 < sleeps.calls[0] <= 30.0


def test_429_without_retry_after_uses_jittered_backoff(connected, sleeps):
    for _ in range(2):
        connected.expect_ordered_request("/attribution").respond_with_data("slow down", status=429)
    connected.expect_ordered_request("/attribution").respond_with_data("success")
    hook = make_hook(sleeps, backoff_base_seconds=0.5, backoff_max_seconds=60.0)

    outcome = hook.send(EVENT)

    assert (outcome.status, outcome.attempts) == ("sent", 3)
    assert len(sleeps.calls) == 2
    # Attempt n waits between half and all of base * 2**(n-1).
    assert 0.25 <= sleeps.calls[0] <= 0.5
    assert 0.5 <= sleeps.calls[1] <= 1.0


def test_backoff_never_exceeds_the_cap(connected, sleeps):
    connected.expect_request("/attribution").respond_with_data("slow down", status=429)
    hook = make_hook(sleeps, max_attempts=5, backoff_base_seconds=10.0, backoff_max_seconds=0.2)

    outcome = hook.send(EVENT)

    assert outcome.status == "failed"
    assert len(sleeps.calls) == 4
    assert all(0 < s <= 0.2 for s in sleeps.calls), sleeps.calls


def test_retry_after_longer_than_the_cap_is_capped(connected, sleeps):
    connected.expect_ordered_request("/attribution").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "3600"}
    )
    connected.expect_ordered_request("/attribution").respond_with_data("success")
    hook = make_hook(sleeps, backoff_max_seconds=60.0)

    assert hook.send(EVENT).status == "sent"
    assert sleeps.calls == [60.0]


def test_429_until_attempts_run_out_is_failed_with_last_status(connected, sleeps):
    connected.expect_request("/attribution").respond_with_data("rate limited", status=429, headers={"Retry-After": "0"})
    hook = make_hook(sleeps, max_attempts=3)

    outcome = hook.send(EVENT)

    assert outcome == SendOutcome("failed", 429, 3, "rate limited")
    assert len(connected.log) == 3
    assert len(sleeps.calls) == 2  # no pointless wait after the last attempt
    assert hook.retries == 2


def test_malformed_retry_after_falls_back_to_backoff(scripted, sleeps):
    # "²" is a Latin-1 character that str.isdigit() accepts but float() refuses.
    srv = scripted([("respond", 429, {"Retry-After": "²"}, b"slow down")])
    hook = make_hook(sleeps, backoff_base_seconds=0.5)

    outcome = hook.send(EVENT)

    assert (outcome.status, outcome.attempts) == ("sent", 2)
    assert len(srv.requests) == 2
    assert len(sleeps.calls) == 1 and 0.25 <= sleeps.calls[0] <= 0.5


# ------------------------------------------------------------------------- 5xx


def test_500_twice_then_200(connected, sleeps):
    for _ in range(2):
        connected.expect_ordered_request("/attribution").respond_with_data("oops", status=500)
    connected.expect_ordered_request("/attribution").respond_with_data("success")
    hook = make_hook(sleeps)

    outcome = hook.send(EVENT)

    assert outcome == SendOutcome("sent", 200, 3, "success")
    assert len(connected.log) == 3
    assert hook.retries == 2
    assert len(sleeps.calls) == 2
    connected.check_assertions()


@pytest.mark.parametrize("status", [502, 503, 504])
def test_other_retryable_5xx_are_retried(connected, sleeps, status):
    connected.expect_ordered_request("/attribution").respond_with_data("gateway", status=status)
    connected.expect_ordered_request("/attribution").respond_with_data("success")

    outcome = make_hook(sleeps).send(EVENT)

    assert (outcome.status, outcome.attempts) == ("sent", 2)
    assert len(connected.log) == 2


def test_5xx_until_attempts_run_out_is_failed(connected, sleeps):
    connected.expect_request("/attribution").respond_with_data("down", status=503)
    hook = make_hook(sleeps, max_attempts=4)

    outcome = hook.send(EVENT)

    assert outcome == SendOutcome("failed", 503, 4, "down")
    assert len(connected.log) == 4
    assert hook.retries == 3


# ----------------------------------------------------------- dropped connections


def test_connection_reset_is_retried_then_sent(scripted, sleeps):
    srv = scripted(reset_connections=2)
    hook = make_hook(sleeps, max_attempts=4)

    outcome = hook.send(EVENT)

    assert outcome == SendOutcome("sent", 200, 3, "success")
    assert srv.connections == 3
    assert len(srv.requests) == 1  # only the third connection got to be read
    assert hook.retries == 2
    assert len(sleeps.calls) == 2


def test_connection_closed_without_answer_is_retried_then_sent(scripted, sleeps):
    srv = scripted([("drop",)])
    hook = make_hook(sleeps)

    outcome = hook.send(EVENT)

    assert (outcome.status, outcome.http_status, outcome.attempts) == ("sent", 200, 2)
    assert len(srv.requests) == 2
    assert srv.connections == 2


def test_connection_always_reset_is_failed_after_max_attempts(scripted, sleeps):
    srv = scripted(reset_connections=10_000)
    hook = make_hook(sleeps, max_attempts=4)

    outcome = hook.send(EVENT)

    assert outcome.status == "failed"
    assert outcome.http_status is None
    assert outcome.attempts == 4
    assert outcome.body == "ConnectionError"
    assert srv.connections == 4
    assert hook.retries == 3
    assert len(sleeps.calls) == 3


def test_connection_always_dropped_is_failed_after_max_attempts(scripted, sleeps):
    srv = scripted([("drop",)] * 100)
    hook = make_hook(sleeps, max_attempts=3)

    outcome = hook.send(EVENT)

    assert (outcome.status, outcome.http_status, outcome.attempts) == ("failed", None, 3)
    assert len(srv.requests) == 3


def test_nothing_listening_is_failed_not_raised(monkeypatch, sleeps):
    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    set_connection(monkeypatch, f"http://127.0.0.1:{port}")
    hook = make_hook(sleeps, max_attempts=2)

    outcome = hook.send(EVENT)

    assert (outcome.status, outcome.http_status, outcome.attempts) == ("failed", None, 2)
    assert outcome.body == "ConnectionError"


# ------------------------------------------------------------------- read timeout


def test_read_timeout_is_retried_then_sent(scripted, sleeps):
    srv = scripted([("stall", 5.0), ("stall", 5.0)])
    hook = make_hook(sleeps, read_timeout_seconds=0.3, max_attempts=4)

    started = time.monotonic()
    outcome = hook.send(EVENT)
    elapsed = time.monotonic() - started

    assert outcome == SendOutcome("sent", 200, 3, "success")
    assert len(srv.requests) == 3
    assert hook.retries == 2
    assert elapsed < 3.0  # two 0.3 s timeouts, not two 5 s stalls


def test_read_timeout_every_time_is_failed_and_bounded(scripted, sleeps):
    srv = scripted([("stall", 5.0)] * 10)
    hook = make_hook(sleeps, read_timeout_seconds=0.3, max_attempts=3)

    started = time.monotonic()
    outcome = hook.send(EVENT)
    elapsed = time.monotonic() - started

    assert outcome == SendOutcome("failed", None, 3, "ReadTimeout")
    assert len(srv.requests) == 3
    assert len(sleeps.calls) == 2
    assert 0.8 <= elapsed < 3.0


class TimingLimiter:
    """Notes how long each request took, from its slot to its answer (or the lack of one)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    @contextlib.contextmanager
    def request(self):
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds.append(time.monotonic() - started)

    def record(self, status: int | None) -> None:
        pass


@pytest.mark.parametrize("part", ["head", "body"])
def test_an_answer_trickled_a_byte_at_a_time_is_cut_at_the_deadline_and_retried(scripted, sleeps, part):
    """Before: the read timeout applied to each read, so an answer trickled a byte every 0.2 s held the
    request for as long as the server liked (issue 26, part 3). Now it is cut when
    connect_timeout_seconds + read_timeout_seconds have passed, and retried like any timeout."""
    srv = scripted([("trickle", part, 0.2)])  # 88 bytes of status line and headers, or 47 of body
    hook = make_hook(sleeps, connect_timeout_seconds=0.5, read_timeout_seconds=0.5)
    limiter = TimingLimiter()

    outcome = hook.send(EVENT, limiter)

    assert outcome == SendOutcome("sent", 200, 2, "success")
    assert len(srv.requests) == 2 and len(sleeps.calls) == 1 and hook.retries == 1
    cut, answered = limiter.seconds
    assert 1.0 <= cut < 1.0 + 2.0  # the deadline, and room for a busy machine (uncut: 9 s or more)
    assert answered < 1.0 + 2.0
    # one watchdog thread for every request of the process, not one per request
    assert len([t for t in threading.enumerate() if t.name == "amplitude-request-deadline"]) <= 1


# --------------------------------------------------------------------------- 4xx


def test_400_is_rejected_with_body_and_not_retried(connected, sleeps):
    connected.expect_request("/attribution").respond_with_data(
        '{"error": "invalid idfa format"}', status=400, content_type="application/json"
    )
    hook = make_hook(sleeps)

    outcome = hook.send(EVENT)

    assert outcome.status == "rejected"
    assert outcome.http_status == 400
    assert outcome.attempts == 1
    assert "invalid idfa format" in outcome.body
    assert len(connected.log) == 1
    assert sleeps.calls == []
    assert hook.retries == 0


@pytest.mark.parametrize("status", [404, 413, 422])
def test_other_4xx_are_rejected_without_retry(connected, sleeps, status):
    connected.expect_request("/attribution").respond_with_data(f"nope {status}", status=status)

    outcome = make_hook(sleeps).send(EVENT)

    assert (outcome.status, outcome.http_status, outcome.body) == ("rejected", status, f"nope {status}")
    assert len(connected.log) == 1


def test_long_error_body_is_truncated(connected, sleeps):
    connected.expect_request("/attribution").respond_with_data("x" * 10_000, status=400)

    outcome = make_hook(sleeps).send(EVENT)

    assert outcome.status == "rejected"
    assert outcome.body == "x" * 2000


def test_refusals_in_a_row_stop_only_when_one_4xx_answers_every_request(scripted, sleeps):
    """A `success` or another refusal status starts the count over; a retried answer neither counts
    nor resets. MAX_REFUSED_IN_A_ROW of one status in a row stop, naming the URL and the status."""
    refused = ("respond", 404, {}, b"not found")
    below = MAX_REFUSED_IN_A_ROW - 1
    srv = scripted([
        *[refused] * below, ("respond", 200, {}, b"success"),
        *[refused] * below, ("respond", 400, {}, b"bad event"),
        *[refused] * (below - 1), ("respond", 503, {}, b"busy"), refused,  # one event, retried once
        refused,
    ])
    hook = make_hook(sleeps)

    outcomes = []
    with pytest.raises(AmplitudeRepeatedRefusalError) as raised:
        for _ in range(3 * MAX_REFUSED_IN_A_ROW):  # 74 events are answered; the 75th stops
            outcomes.append(hook.send(EVENT).status)

    assert outcomes == ["rejected"] * below + ["sent"] + ["rejected"] * (below + 1) + ["rejected"] * below
    assert len(srv.requests) == 3 * MAX_REFUSED_IN_A_ROW + 1
    message = str(raised.value)
    assert f"{MAX_REFUSED_IN_A_ROW} requests in a row to {srv.base_url}/attribution" in message
    assert "HTTP 404" in message and "'not found'" in message and API_KEY not in message


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_raises_naming_the_connection_not_the_key(connected, sleeps, status):
    connected.expect_request("/attribution").respond_with_data(f"invalid api_key {API_KEY}", status=status)
    hook = make_hook(sleeps)

    with pytest.raises(AmplitudeAuthError) as excinfo:
        hook.send(EVENT)

    message = str(excinfo.value)
    assert "amplitude_attribution" in message
    assert str(status) in message
    assert API_KEY not in message
    assert len(connected.log) == 1  # never retried
    assert sleeps.calls == []


def test_auth_failure_names_a_custom_connection_id(monkeypatch, server, sleeps):
    set_connection(monkeypatch, server.url_for("/"), env="AIRFLOW_CONN_AMP_EU_PROJECT")
    monkeypatch.delenv(CONN_ENV, raising=False)
    server.expect_request("/attribution").respond_with_data("forbidden", status=403)
    hook = AmplitudeAttributionHook(amplitude_conn_id="amp_eu_project", sleep=sleeps)

    with pytest.raises(AmplitudeAuthError, match="amp_eu_project"):
        hook.send(EVENT)


def test_api_key_is_not_logged_while_retrying(connected, sleeps, caplog):
    connected.expect_ordered_request("/attribution").respond_with_data("oops", status=500)
    connected.expect_ordered_request("/attribution").respond_with_data("success")
    hook = make_hook(sleeps)

    with caplog.at_level(logging.DEBUG):
        assert hook.send(EVENT).status == "sent"

    assert any("retry" in r.getMessage() for r in caplog.records if r.name.startswith("adjust_amplitude"))
    assert API_KEY not in caplog.text


@pytest.mark.parametrize(("status", "ending"), [(400, "rejected"), (503, "failed"), (200, "failed")])
def test_a_body_that_echoes_the_api_key_is_kept_without_it(connected, sleeps, status, ending):
    # A proxy that echoes the request: the body ends up in rejected_rows, logs and error messages.
    connected.expect_request("/attribution").respond_with_data(f"you sent api_key={API_KEY}", status=status)

    outcome = make_hook(sleeps, max_attempts=2).send(EVENT)

    assert (outcome.status, outcome.http_status) == (ending, status)
    assert outcome.body == "you sent api_key=<api key>"


class RecordingLimiter:
    """Notes each request it lets through and each status reported back, in order."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.held = False

    @contextlib.contextmanager
    def request(self):
        self.events.append("request")
        self.held = True
        try:
            yield
        finally:
            self.held = False

    def record(self, status: int | None) -> None:
        self.events.append(status)


def test_every_attempt_passes_the_limiter_and_reports_back_and_waits_outside_it(scripted):
    scripted([
        ("respond", 429, {"Retry-After": "0"}, b"slow down"),
        ("respond", 200, {"Content-Type": "text/html"}, PORTAL.encode()),
        ("drop",),
    ])
    limiter = RecordingLimiter()
    waits: list[tuple[float, bool]] = []
    hook = make_hook(lambda seconds: waits.append((seconds, limiter.held)))

    outcome = hook.send(EVENT, limiter)

    assert outcome == SendOutcome("sent", 200, 4, "success")
    # A 2xx that is not `success` is reported like a dropped connection: as no answer from the API.
    assert limiter.events == ["request", 429, "request", None, "request", None, "request", 200]
    assert [held for _, held in waits] == [False, False, False]
    assert waits[0][0] == 0.0  # the Retry-After of the 429


# ------------------------------------------------------------------------ dry run


def test_no_connection_is_dry_run(monkeypatch, sleeps):
    monkeypatch.delenv(CONN_ENV, raising=False)
    hook = make_hook(sleeps)

    assert hook.is_dry_run is True
    assert hook.url is None
    with pytest.raises(RuntimeError, match="dry run"):
        hook.send(EVENT)


@pytest.mark.parametrize("password", [None, ""])
def test_connection_without_password_is_dry_run(monkeypatch, server, sleeps, password):
    set_connection(monkeypatch, server.url_for("/"), password=password)
    server.expect_request("/attribution").respond_with_data("success")
    hook = make_hook(sleeps)

    assert hook.is_dry_run is True
    with pytest.raises(RuntimeError):
        hook.send(EVENT)
    assert server.log == []  # nothing went out


def test_connection_with_password_is_not_dry_run(connected, sleeps):
    hook = make_hook(sleeps)
    assert hook.is_dry_run is False
    assert hook.url == connected.url_for("/attribution")


def test_connection_is_read_lazily(monkeypatch, server, sleeps):
    monkeypatch.delenv(CONN_ENV, raising=False)
    hook = make_hook(sleeps)  # no Connection yet: constructing must not look it up
    set_connection(monkeypatch, server.url_for("/"))
    assert hook.is_dry_run is False


# ------------------------------------------------------------------ URL building


@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        ("https://api2.amplitude.com", None, None, "https://api2.amplitude.com/attribution"),
        ("https://api.eu.amplitude.com/", None, None, "https://api.eu.amplitude.com/attribution"),
        ("  http://127.0.0.1  ", None, None, "http://127.0.0.1/attribution"),
        ("api2.amplitude.com", None, None, "https://api2.amplitude.com/attribution"),
        ("api2.amplitude.com", None, "", "https://api2.amplitude.com/attribution"),
        ("127.0.0.1", 8080, "http", "http://127.0.0.1:8080/attribution"),
        ("http://127.0.0.1", 8080, None, "http://127.0.0.1:8080/attribution"),
        ("127.0.0.1", 8443, None, "https://127.0.0.1:8443/attribution"),
        ("http://127.0.0.1:9000", 8080, None, "http://127.0.0.1:9000/attribution"),
        (None, None, None, "https://api2.amplitude.com/attribution"),
        ("", None, None, "https://api2.amplitude.com/attribution"),
    ],
)
def test_attribution_url(host, port, schema, expected):
    assert attribution_url(host, port, schema) == expected


# --------------------------------------------------------------- Retry-After parse


@pytest.mark.parametrize(("value", "expected"), [("1", 1.0), ("0", 0.0), (" 120 ", 120.0)])
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_future():
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120)
    delay = parse_retry_after(email.utils.format_datetime(when, usegmt=True))
    assert delay is not None
    assert 117.0 < delay <= 120.0


def test_parse_retry_after_http_date_in_the_past_is_zero():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "1.5", "-3", "1e3", "²", "Mon, 99 Foo 2024"])
def test_parse_retry_after_garbage_is_none(value):
    assert parse_retry_after(value) is None


# --------------------------------------------------------------- session reuse


def test_two_sends_share_one_keep_alive_connection(scripted, sleeps):
    srv = scripted()
    hook = make_hook(sleeps)

    assert hook.send(EVENT).status == "sent"
    assert hook.send({**EVENT, "time": EVENT["time"] + 1}).status == "sent"

    assert len(srv.requests) == 2
    assert srv.connections == 1  # a session per request would open two


def test_separate_hooks_open_separate_connections(scripted, sleeps):
    # Control for the test above: the connection counter does see new sessions.
    srv = scripted()
    make_hook(sleeps).send(EVENT)
    make_hook(sleeps).send(EVENT)
    assert srv.connections == 2


def test_session_is_created_once_and_recreated_after_close(connected, sleeps):
    connected.expect_request("/attribution").respond_with_data("success")
    hook = make_hook(sleeps)
    session = hook.session

    hook.send(EVENT)
    hook.send(EVENT)

    assert hook.session is session
    assert len(connected.log) == 2
    hook.close()
    assert hook.session is not session
    assert hook.send(EVENT).status == "sent"
