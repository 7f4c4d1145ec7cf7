"""A deadline on the whole of one HTTP request, for the Attribution API client.

requests' read timeout restarts with every byte received, so a server trickling its answer a byte
at a time holds a request for as long as it likes. A Deadline shuts the request's socket down once
it passes, wherever the answer is (status line, headers or body): the blocked read fails at once
and the client takes it as no answer. DeadlineAdapter is the requests adapter whose connections a
Deadline can cut.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# How long the deadlines' watchdog thread outlives the last request: longer than the gaps between
# a push's requests, so that it is not started again for each one.
WATCHDOG_IDLE_SECONDS = 5.0


class Deadline:
    """The deadline of one request: once it passes, the socket the request uses is shut down, so a
    read blocked on it fails at once, wherever the answer is (status line, headers or body) and
    however slowly its bytes arrive. Entered in the thread that makes the request, around it.

    One watchdog thread serves every deadline in the process (a thread per request would cost more
    than many a request): it runs while requests are made, and ends once none has been pending for
    WATCHDOG_IDLE_SECONDS. It cuts under the lock that a request's connection reports itself under
    (DeadlineConnection): a connection goes back to the pool once its answer is read, and must
    never be cut while another thread's request uses it. A connection still being opened when the
    deadline passes has no socket to shut: its request is not sent once it is open."""

    _lock = threading.Condition()  # guards every deadline, the connections' `deadline`, and the three below
    _pending: set[Deadline] = set()
    _watchdog: threading.Thread | None = None
    _watchdog_wakes_at = 0.0
    _current = threading.local()  # the deadline of the request this thread is making

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.passed = False
        self._connection: DeadlineConnection | None = None
        self._socket: socket.socket | None = None

    def __enter__(self) -> Deadline:
        cls = Deadline
        cls._current.deadline = self
        with cls._lock:
            cls._pending.add(self)
            if cls._watchdog is None:
                cls._watchdog = threading.Thread(target=cls._watch, name="amplitude-request-deadline", daemon=True)
                cls._watchdog.start()
            elif self.at < cls._watchdog_wakes_at:
                cls._lock.notify()
        return self

    def __exit__(self, *exc: object) -> None:
        with Deadline._lock:
            Deadline._pending.discard(self)  # from here on, `passed` stays as it is
        Deadline._current.deadline = None

    @classmethod
    def used_by_this_thread(cls, connection: DeadlineConnection) -> None:
        """The thread's request goes on on `connection`: once its deadline passed, it goes no further."""
        deadline = getattr(cls._current, "deadline", None)
        with cls._lock:
            connection.deadline = deadline
            if deadline is None:
                return
            deadline._connection = connection
            # http.client lets go of the connection's socket when an answer says it closes the
            # connection, and goes on reading the body from it: keep hold of it for the watchdog.
            deadline._socket = connection.sock or deadline._socket
            if deadline.passed:
                raise TimeoutError("the request's deadline passed")

    @classmethod
    def _watch(cls) -> None:
        """The watchdog thread: cut each request as its deadline passes; end once idle."""
        with cls._lock:
            idle_until = None
            while True:
                now = time.monotonic()
                for deadline in [d for d in cls._pending if d.at <= now]:
                    cls._pending.discard(deadline)
                    deadline._cut()
                if cls._pending:
                    idle_until = None
                    cls._watchdog_wakes_at = min(d.at for d in cls._pending)
                else:
                    idle_until = idle_until or now + WATCHDOG_IDLE_SECONDS
                    if now >= idle_until:
                        cls._watchdog = None
                        return
                    cls._watchdog_wakes_at = idle_until
                cls._lock.wait(cls._watchdog_wakes_at - now)

    def _cut(self) -> None:
        """Mark the deadline passed and shut the request's socket down (by the watchdog, holding the lock)."""
        self.passed = True
        connection = self._connection
        if connection is None or connection.deadline is not self:
            return
        sock = connection.sock or self._socket
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    @classmethod
    def _forget_watchdog(cls) -> None:
        """In a forked child: the watchdog thread was not copied, and its lock may have been held."""
        cls._lock = threading.Condition()
        cls._pending = set()
        cls._watchdog = None


os.register_at_fork(after_in_child=Deadline._forget_watchdog)


class DeadlineConnection(HTTPConnection):
    """A connection that tells the Deadline of the thread using it when it sends a request, and when
    it has opened its socket (inside the request, or before it for HTTPS): a request whose deadline
    passed while the connection opened is not sent."""

    deadline: Deadline | None = None  # of the request using the connection; under Deadline._lock

    def connect(self) -> None:
        super().connect()
        Deadline.used_by_this_thread(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        Deadline.used_by_this_thread(self)
        super().request(*args, **kwargs)


class DeadlineHTTPSConnection(DeadlineConnection, HTTPSConnection):
    pass


class DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = DeadlineConnection


class DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


_DEADLINE_POOLS = {"http": DeadlineHTTPPool, "https": DeadlineHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections a Deadline can cut: direct, or through an HTTP(S) proxy.
    (A SOCKS proxy has connection classes of its own: its requests have the per-read timeout only.)"""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _DEADLINE_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _DEADLINE_POOLS
        return manager
