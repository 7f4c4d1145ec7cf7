"""Client for Amplitude's Attribution API, shaped like Airflow's HttpHook.

It reads the `amplitude_attribution` Connection only when first used, keeps one HTTP session
(connection pooling), and retries only what can succeed later: 429, 5xx, no answer (a connection
error, an answer cut short, a timeout) and 2xx answers that are not Amplitude's `success`. Each
request has a deadline for its whole answer, however slowly the bytes arrive.
The API key travels in the form body, never in the URL, and is never logged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.message
import email.utils
import enum
import html
import itertools
import json
import logging
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import requests
import urllib3
from airflow.sdk import BaseHook

from adjust_amplitude.config import AMPLITUDE_CONN_ID
from adjust_amplitude.failures import NotRetryable
from adjust_amplitude.request_deadline import Deadline, DeadlineAdapter

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api2.amplitude.com"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
MAX_BODY_CHARS = 2000
# Amplitude acknowledges an event with HTTP 200 and the plain text "success" (compared here without
# surrounding whitespace or case). Any other 2xx (an HTML page from a proxy or captive portal, a
# JSON body, an empty body) is no proof the event arrived: it is retried, never taken as sent.
SUCCESS_BODY = "success"
# Unexpected 2xx answers in a row, across every sender of one hook, that stop the push: when every
# answer is wrong (a captive portal in front of every request, or Amplitude changed its success
# body) each retry may duplicate an event that did arrive. Any real "success" resets the count.
MAX_UNEXPECTED_IN_A_ROW = 10
# Refusals in a row with one and the same 4xx status (not 429), across every sender of one hook,
# that stop the push. A malformed event's 400 comes now and then, between successes; a wrong URL
# (a Connection whose host ends in /attribution posts to /attribution/attribution) gets the same
# refusal for every request, and each would record one more good row as rejected. 25 in a row is
# far beyond what sporadic refusals give, and few enough that the rows wrongly recorded as refused
# before the stop (24) are quick to re-send. A `success` or another refusal status starts over;
# answers that are retried (429, 5xx, no answer, an unexpected 2xx) neither count nor reset.
MAX_REFUSED_IN_A_ROW = 25
# What a request that got no complete answer raises: the connection failed or was cut (before the
# answer or in the middle of its body), the body could not be decoded, or it timed out. The event
# may or may not have arrived; like a 503, it is retried.
NO_ANSWER = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.IncompleteRead,
)
# The text of a reply whose request was abandoned at its deadline (request_deadline.Deadline).
DEADLINE_PASSED = "AnswerTimeout"


class AmplitudeStopError(RuntimeError):
    """An answer that every further request would get too: the push stops at once."""


class AmplitudeAuthError(AmplitudeStopError, NotRetryable):
    """The API key was refused."""


class AmplitudeRedirectError(AmplitudeStopError, NotRetryable):
    """The API answered with a redirect: the Connection's host is not the Attribution API."""


class AmplitudeUnexpectedAnswerError(AmplitudeStopError):
    """Answer after answer was a 2xx other than `success`: something else answers for the API."""


class AmplitudeRepeatedRefusalError(AmplitudeStopError, NotRetryable):
    """Request after request got the same 4xx: the URL is wrong, not the rows."""


@dataclasses.dataclass(frozen=True)
class SendOutcome:
    """`sent`: acknowledged. `rejected`: refused for this row, do not retry.
    `failed`: retries ran out; the row stays unsent for a later attempt."""

    status: str
    http_status: int | None
    attempts: int
    body: str = ""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How often one event is tried, and how long to wait between tries."""

    max_attempts: int = 6
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 60.0
    connect_timeout_seconds: float = 5.0
    # Bounds each wait for a byte and, with connect_timeout_seconds, the whole request (request_deadline.Deadline).
    read_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be at least 1, not {self.max_attempts}")

    def another_attempt(self, attempts: int) -> bool:
        """Whether an event that has had `attempts` tries, none of them final, gets one more."""
        return attempts < self.max_attempts

    def wait(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after attempt number `attempt`: the server's Retry-After when it gave one,
        else exponential backoff; never more than backoff_max_seconds, so one answer cannot park a sender."""
        if retry_after is not None:
            return min(retry_after, self.backoff_max_seconds)
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter spreads retries of parallel senders


class Meaning(enum.Enum):
    """What one answer says about its event. SENT and REJECTED are SendOutcome's statuses."""

    SENT = "sent"  # Amplitude's `success`
    REJECTED = "rejected"  # refused for this row: trying again gets the same answer
    RETRY = "retry"  # 429, a retryable 5xx, or no (complete) answer at all: may succeed later
    UNEXPECTED = "unexpected"  # a 2xx other than `success`: retried, and counted toward the breaker
    REDIRECT = "redirect"  # stop: the Connection's host is not the Attribution API
    KEY_REFUSED = "key refused"  # stop: 401 or 403


# Answers that every further request would get too: the push stops (an AmplitudeStopError).
STOPS = frozenset({Meaning.REDIRECT, Meaning.KEY_REFUSED})


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What classify() makes of one answer."""

    meaning: Meaning
    retry_after: float | None = None  # seconds the server asked for, on RETRY only


def classify(status: int | None, body: str, retry_after: str | None = None) -> Verdict:
    """What one answer means. `status` is None when no answer came (connection error, timeout);
    `body` is the answer's text as received; `retry_after` its Retry-After header (a date in it is
    counted from now: the one thing read besides the arguments)."""
    if status is None:
        return Verdict(Meaning.RETRY)
    if 200 <= status < 300:
        return Verdict(Meaning.SENT if _is_success(body) else Meaning.UNEXPECTED)
    if 300 <= status < 400:
        return Verdict(Meaning.REDIRECT)
    if status in AUTH_STATUSES:
        return Verdict(Meaning.KEY_REFUSED)
    if status in RETRYABLE_STATUSES:
        return Verdict(Meaning.RETRY, parse_retry_after(retry_after))
    return Verdict(Meaning.REJECTED)


@dataclasses.dataclass(frozen=True)
class _Reply:
    """What one POST got back: an answer, or no status and the name of what happened instead
    (the connection error, or DEADLINE_PASSED) as text."""

    status: int | None
    text: str
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


class _Unlimited:
    """Stand-in limiter for a single caller: no pacing, nothing to record."""

    def request(self):
        return contextlib.nullcontext()

    def record(self, status: int | None) -> None:
        pass


class AmplitudeAttributionHook(BaseHook):
    conn_name_attr = "amplitude_conn_id"
    default_conn_name = AMPLITUDE_CONN_ID
    conn_type = "http"
    hook_name = "Amplitude Attribution API"

    def __init__(
        self,
        amplitude_conn_id: str = AMPLITUDE_CONN_ID,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pool_size: int = 32,
    ) -> None:
        super().__init__()
        self.pool_size = pool_size
        self._retries_lock = threading.Lock()
        self.amplitude_conn_id = amplitude_conn_id
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._resolved = False
        self._url: str | None = None
        self._api_key: str | None = None
        self._key_forms: list[str] = []
        self._session = None
        self.retries = 0
        # guarded by _retries_lock: the breakers' counts
        self._unexpected_in_a_row = 0
        self._refused: tuple[int | None, int] = (None, 0)  # (status, refusals in a row with it)

    def _resolve(self) -> None:
        if self._resolved:
            return
        from airflow.exceptions import AirflowNotFoundException  # the SDK's own from 3.2; its home on 3.1

        try:
            conn = self.get_connection(self.amplitude_conn_id)
        except AirflowNotFoundException:
            conn = None
        if conn is not None and conn.password:
            self._api_key = conn.password
            self._key_forms = key_forms(conn.password)
            self._url = attribution_url(conn.host, conn.port, conn.schema)
        self._resolved = True

    @property
    def is_dry_run(self) -> bool:
        """No Connection, or one without a password: nothing can be sent."""
        self._resolve()
        return self._api_key is None

    @property
    def url(self) -> str | None:
        self._resolve()
        return self._url

    @property
    def session(self):
        if self._session is None:
            session = requests.Session()
            # One session shared by every sender thread; its pool keeps a connection per thread.
            adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=self.pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def send(self, event: dict[str, Any], limiter: Any = None) -> SendOutcome:
        """POST one event; retry what is retryable; say how it ended.

        Every attempt passes through `limiter` (rate and in-flight cap, see rate_limiter) and
        reports its status back to it. Waits between attempts happen outside the limiter.
        """
        limiter = limiter or _Unlimited()
        if self.is_dry_run:
            raise RuntimeError(f"Connection {self.amplitude_conn_id} has no API key: this is a dry run")
        form = {"api_key": self._api_key, "event": json.dumps(event, separators=(",", ":"), ensure_ascii=False)}
        for attempt in itertools.count(1):
            reply = self._post(form, limiter)
            verdict = classify(reply.status, reply.text, reply.headers.get("Retry-After"))
            # An unexpected 2xx is recorded as no answer, like a dropped connection: as far as we
            # can tell it did not come from the API. The limiter only counts 429s today, so either
            # way it neither slows down nor speeds up; None keeps a portal's page from ever
            # counting as the API keeping up, should the limiter one day adapt on successes.
            limiter.record(None if verdict.meaning is Meaning.UNEXPECTED else reply.status)
            if verdict.meaning in STOPS:
                raise self._stop_error(verdict.meaning, reply)
            self._apply_breakers(verdict.meaning, reply)
            if verdict.meaning in (Meaning.SENT, Meaning.REJECTED):
                return SendOutcome(verdict.meaning.value, reply.status, attempt, self._redacted(reply.text))
            if not self.retry.another_attempt(attempt):
                return SendOutcome("failed", reply.status, attempt, self._redacted(reply.text))
            delay = self.retry.wait(attempt, verdict.retry_after)
            with self._retries_lock:
                self.retries += 1
            log.debug("Attribution API answered %s; retry %d in %.2f s", reply.status or reply.text, attempt, delay)
            self._sleep(delay)

    def _post(self, form: dict[str, str], limiter: Any) -> _Reply:
        connect, read = self.retry.connect_timeout_seconds, self.retry.read_timeout_seconds
        # The read timeout restarts with every byte received: the deadline bounds the whole request.
        with limiter.request(), Deadline(connect + read) as deadline:
            try:
                # Never follow a redirect: requests would repeat the POST as a GET without
                # the event, and the answer of whatever is at the target would be taken as ours.
                response = self.session.post(self._url, data=form, timeout=(connect, read), allow_redirects=False)
            except NO_ANSWER as exc:
                reply = _Reply(None, type(exc).__name__)
            else:
                reply = _Reply(response.status_code, _text(response), response.headers)
        # Once the socket was shut, what came back is at most the part read before: no answer.
        return _Reply(None, DEADLINE_PASSED) if deadline.passed else reply

    def _redacted(self, body: str) -> str:
        """An answer's body as safe to keep, cut to MAX_BODY_CHARS: a proxy that echoes requests
        could send the key back (in any of its encodings), and bodies end up in rejected_rows,
        the push journal, logs and error messages."""
        for form in self._key_forms:
            body = body.replace(form, "<api key>")
        return body[:MAX_BODY_CHARS]

    def _apply_breakers(self, meaning: Meaning, reply: _Reply) -> None:
        """Count, across every sender, unexpected 2xx in a row and refusals in a row with one 4xx
        status; at MAX_UNEXPECTED_IN_A_ROW or MAX_REFUSED_IN_A_ROW, stop the push."""
        with self._retries_lock:
            if meaning is Meaning.SENT:
                self._unexpected_in_a_row, self._refused = 0, (None, 0)
            elif meaning is Meaning.UNEXPECTED:
                self._unexpected_in_a_row += 1
            elif meaning is Meaning.REJECTED:
                self._refused = _count_refusal(self._refused, reply.status)
            unexpected = self._unexpected_in_a_row if meaning is Meaning.UNEXPECTED else 0
            refused = self._refused[1] if meaning is Meaning.REJECTED else 0
        if unexpected >= MAX_UNEXPECTED_IN_A_ROW:
            raise self._unexpected_error(unexpected, reply)
        if refused >= MAX_REFUSED_IN_A_ROW:
            raise self._refused_error(refused, reply)

    def _unexpected_error(self, in_a_row: int, reply: _Reply) -> AmplitudeUnexpectedAnswerError:
        body = self._redacted(reply.text)[:80]
        return AmplitudeUnexpectedAnswerError(
            f"{in_a_row} answers in a row from {_site(self._url)} (Connection {self.amplitude_conn_id}) were "
            f"HTTP 2xx but not Amplitude's {SUCCESS_BODY!r}; the last: HTTP {reply.status}, Content-Type "
            f"{reply.headers.get('Content-Type')!r}, body {body!r}. Something else answers for the API: check for "
            "a proxy or captive portal between Airflow and Amplitude, and the Connection's host, then re-run. "
            "Rows retried meanwhile stay unsent, though some may have arrived"
        )

    def _refused_error(self, in_a_row: int, reply: _Reply) -> AmplitudeRepeatedRefusalError:
        body = self._redacted(reply.text)[:80]
        return AmplitudeRepeatedRefusalError(
            f"{in_a_row} requests in a row to {_site(self._url)} (Connection {self.amplitude_conn_id}) were refused "
            f"with HTTP {reply.status}; the last body {body!r}. The same refusal of every request points at the URL, "
            "not at the rows: check that the Connection's host is the API's base URL, e.g. "
            f"{DEFAULT_BASE_URL}, without /attribution, then re-run. The rows refused so far are recorded as "
            f"rejected (amplitude_http_{reply.status}); once fixed, re-send them with the `resend_rejected` Param"
        )

    def _stop_error(self, meaning: Meaning, reply: _Reply) -> AmplitudeStopError:
        if meaning is Meaning.REDIRECT:
            return AmplitudeRedirectError(
                f"the Attribution API at {_site(self._url)} (Connection {self.amplitude_conn_id}) answered "
                f"HTTP {reply.status}, a redirect to {_site(reply.headers.get('Location'))}; "
                "it was not followed. Set the Connection's host to the API's base URL and re-run"
            )
        return AmplitudeAuthError(
            f"Amplitude refused the API key of Connection {self.amplitude_conn_id} "
            f"(HTTP {reply.status}); fix its password and re-run"
        )


def _text(response: requests.Response) -> str:
    """An answer's body as text: in the charset it declares, else UTF-8. (requests would read a text/*
    answer without one as Latin-1, and guess for other types: an API key echoed in UTF-8 would come
    out garbled, and so escape redaction.)"""
    declared = email.message.Message()
    declared["Content-Type"] = response.headers.get("Content-Type", "")
    response.encoding = declared.get_content_charset() or "utf-8"  # one Python does not know: UTF-8 too
    return response.text


def _count_refusal(refused: tuple[int | None, int], status: int) -> tuple[int | None, int]:
    """The refusal breaker's (status, count) after one more refusal: a 4xx with the last one's status
    adds one, another 4xx starts a count of its own, a 5xx refusal (501, 505...) clears it."""
    last, count = refused
    if not 400 <= status < 500:
        return None, 0
    return status, count + 1 if status == last else 1


def key_forms(key: str) -> list[str]:
    """Every form the API key may take in an answer's body, longest first (so that a shorter form
    inside a longer one does not leave the rest of it behind): as given; URL-encoded as in the form
    body or as a path segment, with upper- or lower-case escapes; JSON-escaped; HTML-escaped."""
    encoded = {urllib.parse.quote_plus(key), urllib.parse.quote(key, safe="")}
    forms = {key, *encoded, *(re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), e) for e in encoded),
             json.dumps(key)[1:-1], json.dumps(key, ensure_ascii=False)[1:-1],
             html.escape(key), html.escape(key, quote=False)}
    return sorted(forms, key=len, reverse=True)


def attribution_url(host: str | None, port: int | None, schema: str | None) -> str:
    base = (host or DEFAULT_BASE_URL).strip().rstrip("/")
    if "://" not in base:
        base = f"{schema or 'https'}://{base}"
    if port and base.count(":") < 2:
        base = f"{base}:{port}"
    return f"{base}/attribution"


def _is_success(body: str) -> bool:
    return body.strip().lower() == SUCCESS_BODY


def _site(url: str | None) -> str:
    """A URL as safe to show: scheme, host and path, without credentials or query string."""
    if not url:
        return "(no Location header)"
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else parts.path


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
