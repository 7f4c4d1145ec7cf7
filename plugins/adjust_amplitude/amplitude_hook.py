"""Client for Amplitude's Attribution API, shaped like Airflow's HttpHook.

It reads the `amplitude_attribution` Connection only when first used, keeps one HTTP session
(connection pooling), and retries only what can succeed later: 429, 5xx and connection errors.
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

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api2.amplitude.com"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
MAX_BODY_CHARS = 2000


class AmplitudeStopError(RuntimeError):
    """An answer that every further request would get too: the push stops at once."""


class AmplitudeAuthError(AmplitudeStopError):
    """The API key was refused."""


class AmplitudeRedirectError(AmplitudeStopError):
    """The API answered with a redirect: the Connection's host is not the Attribution API."""


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

    def _resolve(self) -> None:
        if self._resolved:
            return
        from airflow.sdk.exceptions import AirflowNotFoundException

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
            limiter.record(None if response is None else response.status_code)
            if response is not None:
                last_status, last_body = response.status_code, response.text[:MAX_BODY_CHARS]
                if 200 <= response.status_code < 300:
                    return SendOutcome("sent", response.status_code, attempt, last_body)
                if 300 <= response.status_code < 400:
                    raise AmplitudeRedirectError(
                        f"the Attribution API at {_site(self._url)} (Connection {self.amplitude_conn_id}) answered "
                        f"HTTP {response.status_code}, a redirect to {_site(response.headers.get('Location'))}; "
                        "it was not followed. Set the Connection's host to the API's base URL and re-run"
                    )
                if response.status_code in AUTH_STATUSES:
                    raise AmplitudeAuthError(
                        f"Amplitude refused the API key of Connection {self.amplitude_conn_id} "
                        f"(HTTP {response.status_code}); fix its password and re-run"
                    )
                if response.status_code not in RETRYABLE_STATUSES:
                    return SendOutcome("rejected", response.status_code, attempt, last_body)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if attempt == self.retry.max_attempts:
                break
            with self._retries_lock:
                self.retries += 1
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            log.debug("Attribution API answered %s; retry %d in %.2f s", last_status or last_body, attempt, delay)
            self._sleep(min(delay, self.retry.backoff_max_seconds))
        return SendOutcome("failed", last_status, self.retry.max_attempts, last_body)

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
