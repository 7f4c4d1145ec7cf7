"""A shared, adaptive limit on request rate and on requests in flight.

Requests are spaced evenly (one slot every 1/rate seconds) rather than released in bursts. A slot
taken late (a thread woken late, a retry) must not let the next ones crowd in behind it, so each
request is also checked against the times requests really left: never more than the rate (whole
requests) in any window of one second plus WINDOW_GUARD, which covers the spread of the network's
latency, so that no one-second window at the server holds more than the rate. When the share of 429 answers
among recent responses climbs past a threshold, the rate is cut; it then creeps back up to the
configured ceiling. A scattering of 429s (noise) does not slow everything down.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterator


# Seconds: how late one request may reach the server after its slot (a thread woken late on a busy
# machine, the network's jitter) without two requests a second apart landing in one second at the
# server. 20 ms was not enough on a loaded 2-core machine (9 requests in a second at 8/s). The cost:
# at full speed the push sends at most rate requests per 1.1 s, about 91% of the limit.
WINDOW_GUARD = 0.1


class AdaptiveRateLimiter:
    def __init__(
        self,
        rate_per_second: float,
        max_in_flight: int = 32,
        throttle_share: float = 0.10,
        window: int = 200,
        cut_factor: float = 0.7,
        recovery_seconds: float = 10.0,
        min_rate: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ceiling = float(rate_per_second)
        self.rate = self.ceiling
        self.min_rate = min(min_rate, self.ceiling)
        self.throttle_share = throttle_share
        self.cut_factor = cut_factor
        self.recovery_seconds = recovery_seconds
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._next_slot = clock()
        self._recent: collections.deque[bool] = collections.deque(maxlen=window)
        self._last_change = clock()
        self._sent: collections.deque[float] = collections.deque()  # when requests left, for the window
        self.cuts = 0

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """Hold one in-flight place and the next free time slot for the duration of a request."""
        with self._in_flight:
            self._wait_for_slot()
            yield

    def _wait_for_slot(self) -> None:
        with self._lock:
            now = self._clock()
            self._recover(now)
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self.rate
        if slot > now:
            self._sleep(slot - now)
        window = 1.0 + WINDOW_GUARD
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - window:
                    self._sent.popleft()
                if len(self._sent) < max(1, int(self.rate)):
                    self._sent.append(now)
                    return
                wait = self._sent[0] + window - now
            self._sleep(wait)

    def record(self, status: int | None) -> None:
        """Feed every answer back; 429s drive the adaptive cut."""
        with self._lock:
            self._recent.append(status == 429)
            now = self._clock()
            throttled = sum(self._recent)
            enough = len(self._recent) >= min(20, self._recent.maxlen or 20)
            if enough and throttled / len(self._recent) > self.throttle_share and now - self._last_change >= 1.0:
                self.rate = max(self.min_rate, self.rate * self.cut_factor)
                self._last_change = now
                self._recent.clear()
                self.cuts += 1

    def _recover(self, now: float) -> None:
        if self.rate < self.ceiling and now - self._last_change >= 1.0:
            step = self.ceiling * (now - self._last_change) / self.recovery_seconds
            self.rate = min(self.ceiling, self.rate + step)
            self._last_change = now
