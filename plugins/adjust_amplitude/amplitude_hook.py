"""Client for Amplitude's Attribution API, shaped like Airflow's HttpHook.

It reads the `amplitude_attribution` Connection only when first used, keeps one HTTP session
(connection pooling), and retries only what can succeed later: 429, 5xx, connection errors and
2xx answers that are not Amplitude's `success`.
The API key travels in the form body, never in the URL, and is never logged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import json
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from airflow.sdk import BaseHook

from adjust_amplitude.config import AMPLITUDE_CONN_ID
from adjust_amplitude.failures import NotRetryable

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


class AmplitudeStopError(RuntimeError):
    """An answer that every further request would get too: the push stops at once."""


class AmplitudeAuthError(AmplitudeStopError, NotRetryable):
    """The API key was refused."""


class AmplitudeRedirectError(AmplitudeStopError, NotRetryable):
    """The API answered with a redirect: the Connection's host is not the Attribution API."""


class AmplitudeUnexpectedAnswerError(AmplitudeStopError):
    """Answer after answer was a 2xx other than `success`: something else answers for the API."""


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
    max_attempts: int = 6
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 60.0
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0


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
        self._session = None
        self.retries = 0
        self._unexpected_in_a_row = 0  # guarded by _retries_lock

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
            import requests
            from requests.adapters import HTTPAdapter

            session = requests.Session()
            # One session shared by every sender thread; its pool keeps a connection per thread.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size, max_retries=0)
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
        import requests

        limiter = limiter or _Unlimited()
        if self.is_dry_run:
            raise RuntimeError(f"Connection {self.amplitude_conn_id} has no API key: this is a dry run")
        form = {"api_key": self._api_key, "event": json.dumps(event, separators=(",", ":"), ensure_ascii=False)}
        timeout = (self.retry.connect_timeout_seconds, self.retry.read_timeout_seconds)
        last_status: int | None = None
        last_body = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            retry_after: float | None = None
            with limiter.request():
                try:
                    # Never follow a redirect: requests would repeat the POST as a GET without
                    # the event, and the answer of whatever is at the target would be taken as ours.
                    response = self.session.post(self._url, data=form, timeout=timeout, allow_redirects=False)
                except (requests.ConnectionError, requests.Timeout) as exc:
                    response = None
                    last_status, last_body = None, f"{type(exc).__name__}"
            status = None if response is None else response.status_code
            unexpected = status is not None and 200 <= status < 300 and not _is_success(response.text)
            # An unexpected 2xx is recorded as no answer, like a dropped connection: as far as we
            # can tell it did not come from the API. The limiter only counts 429s today, so either
            # way it neither slows down nor speeds up; None keeps a portal's page from ever
            # counting as the API keeping up, should the limiter one day adapt on successes.
            limiter.record(None if unexpected else status)
            if response is not None:
                last_status, last_body = response.status_code, self._redacted(response.text)[:MAX_BODY_CHARS]
                if unexpected:
                    self._count_unexpected(response)  # raises once too many came in a row
                elif 200 <= response.status_code < 300:
                    with self._retries_lock:
                        self._unexpected_in_a_row = 0
                    return SendOutcome("sent", response.status_code, attempt, last_body)
                elif 300 <= response.status_code < 400:
                    raise AmplitudeRedirectError(
                        f"the Attribution API at {_site(self._url)} (Connection {self.amplitude_conn_id}) answered "
                        f"HTTP {response.status_code}, a redirect to {_site(response.headers.get('Location'))}; "
                        "it was not followed. Set the Connection's host to the API's base URL and re-run"
                    )
                elif response.status_code in AUTH_STATUSES:
                    raise AmplitudeAuthError(
                        f"Amplitude refused the API key of Connection {self.amplitude_conn_id} "
                        f"(HTTP {response.status_code}); fix its password and re-run"
                    )
                elif response.status_code not in RETRYABLE_STATUSES:
                    return SendOutcome("rejected", response.status_code, attempt, last_body)
                else:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if attempt == self.retry.max_attempts:
                break
            with self._retries_lock:
                self.retries += 1
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            log.debug("Attribution API answered %s; retry %d in %.2f s", last_status or last_body, attempt, delay)
            self._sleep(min(delay, self.retry.backoff_max_seconds))
        return SendOutcome("failed", last_status, self.retry.max_attempts, last_body)

    def _redacted(self, body: str) -> str:
        """An answer's body as safe to keep: a proxy that echoes requests could send the key back,
        and bodies end up in rejected_rows, logs and error messages."""
        return body.replace(self._api_key, "<api key>") if self._api_key else body

    def _count_unexpected(self, response) -> None:
        """One more 2xx that is not `success`; past MAX_UNEXPECTED_IN_A_ROW in a row, stop the push."""
        with self._retries_lock:
            self._unexpected_in_a_row += 1
            in_a_row = self._unexpected_in_a_row
        if in_a_row < MAX_UNEXPECTED_IN_A_ROW:
            return
        body = self._redacted(response.text)[:80]
        raise AmplitudeUnexpectedAnswerError(
            f"{in_a_row} answers in a row from {_site(self._url)} (Connection {self.amplitude_conn_id}) were "
            f"HTTP 2xx but not Amplitude's {SUCCESS_BODY!r}; the last: HTTP {response.status_code}, Content-Type "
            f"{response.headers.get('Content-Type')!r}, body {body!r}. Something else answers for the API: check for "
            "a proxy or captive portal between Airflow and Amplitude, and the Connection's host, then re-run. "
            "Rows retried meanwhile stay unsent, though some may have arrived"
        )

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.retry.backoff_max_seconds, self.retry.backoff_base_seconds * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter spreads retries of parallel senders


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
