"""A local server that speaks the Attribution API contract, for tests over loopback.

POST /attribution with form fields api_key and event (JSON). It answers 200 "success", or what a
test tells it to: added latency, 429 to every Nth request (with or without Retry-After), 5xx
for the first N requests or for chosen events, dropped connections, stalls past the client's
read timeout, 200s cut off mid-way, 400 for chosen events (with a body that echoes the request, as
some proxies do), 401 for a wrong key, a redirect to every POST, or a 200 that is not "success" (a
captive portal's HTML page, a JSON body, an empty body) to the first N requests or to a share of
them. It counts the GETs it gets: a client that followed a redirect would send one.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

# (Content-Type, body) of 200 answers that are not Amplitude's "success"
PORTAL_PAGE = ("text/html", "<html><body><h1>Wi-Fi</h1>Sign in to the captive portal to continue</body></html>")
JSON_200 = ("application/json", '{"code":200}')
EMPTY_200 = ("text/plain", "")
# 200 answers that break off before the end, each as it goes out on the wire before the connection
# closes: a body shorter than its Content-Length, a chunked body cut inside a chunk, a body that
# claims a gzip encoding it does not have.
CUT_ANSWERS = {
    "short": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nsucc",
    "chunked": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nsucc",
    "gzip": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: 7\r\n\r\nsuccess",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many senders connect at once


class AttributionServer:
    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.events: list[dict] = []  # every acknowledged event, in arrival order
        self.requests = 0
        self.arrivals: list[float] = []  # monotonic time of every request
        self.reject: Callable[[dict], bool] = lambda event: False
        # When set, the body of a 400 is made from the raw request body, as a proxy echoing it would.
        self.echo: Callable[[str], str] | None = None
        self.fail_when: Callable[[dict], bool] = lambda event: False  # answered with fail_status
        self.latency = 0.0
        self.throttle_every = 0  # answer 429 to every Nth request
        self.retry_after: str | None = None  # Retry-After header sent with those 429s
        self.drop_first = 0  # close the connection without answering
        self.stall_first = 0  # hold the request stall_seconds, then drop it unanswered
        self.stall_seconds = 0.0
        self.cut_first = 0  # answer a 200 cut off mid-way (CUT_ANSWERS[cut]), before acknowledging anything
        self.cut = "short"
        self.fail_first = 0
        self.fail_status = 503
        self.redirect: tuple[int, str] | None = None  # (3xx status, Location) answered to every POST
        self.gets = 0  # a client that followed a redirect would come back with a GET
        # A 200 that is not "success", answered before anything reaches the API (so the event is
        # not acknowledged): to the first N requests, then to this share of the others, spread evenly.
        self.unexpected_first = 0
        self.unexpected_share = 0.0
        self.unexpected = PORTAL_PAGE
        self._share_count = 0
        self.success_body = "success"  # the acknowledgment; tests may vary its case and spacing
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes; without this, Nagle's algorithm and
            # delayed ACKs add ~40 ms to every keep-alive request, like no real API does.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                with server.lock:
                    server.gets += 1
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode()
                fault = server.fault()
                if fault == "stall":
                    time.sleep(server.stall_seconds)
                if fault == "cut":
                    self.wfile.write(CUT_ANSWERS[server.cut])
                if fault in ("drop", "stall", "cut"):
                    self.close_connection = True
                    return
                if server.latency:
                    time.sleep(server.latency)
                if server.redirect:
                    with server.lock:
                        server.requests += 1
                    self.send_response(server.redirect[0])
                    self.send_header("Location", server.redirect[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, content_type, body = server.answer(self.path, self.headers.get("Content-Type", ""), raw)
                payload = body.encode()
                self.send_response(status)
                if status == 429 and server.retry_after is not None:
                    self.send_header("Retry-After", server.retry_after)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        # shutdown() waits for the serve loop's next poll: 0.5 s by default, at every test's end
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def connection_json(self) -> str:
        return json.dumps({"conn_type": "http", "host": self.base_url, "password": self.api_key})

    def fault(self) -> str | None:
        with self.lock:
            if self.drop_first > 0:
                self.drop_first -= 1
                self.requests += 1
                return "drop"
            if self.stall_first > 0:
                self.stall_first -= 1
                self.requests += 1
                return "stall"
            if self.cut_first > 0:
                self.cut_first -= 1
                self.requests += 1
                return "cut"
        return None

    def answer(self, path: str, content_type: str, raw: str) -> tuple[int, str, str]:
        """(status, Content-Type, body) for one POST whose body is `raw`."""
        with self.lock:
            self.requests += 1
            self.arrivals.append(time.monotonic())
            if self._unexpected_turn():  # a portal answers in the API's place: nothing is acknowledged
                return 200, *self.unexpected
            status, body = self._api_answer(path, content_type, urllib.parse.parse_qs(raw))
            if status == 400 and self.echo:
                body = self.echo(raw)
            return status, "text/plain", body

    def _unexpected_turn(self) -> bool:
        if self.unexpected_first > 0:
            self.unexpected_first -= 1
            return True
        self._share_count += 1
        n, share = self._share_count, self.unexpected_share
        return int(n * share) > int((n - 1) * share)

    def _api_answer(self, path: str, content_type: str, form: dict) -> tuple[int, str]:
        """The API's own (status, body), with the lock held; only "success" acknowledges the event."""
        if path != "/attribution" or "application/x-www-form-urlencoded" not in content_type:
            return 404, "not found"
        if form.get("api_key") != [self.api_key]:
            return 401, "invalid api_key"
        try:
            (raw,) = form["event"]
            event = json.loads(raw)
        except (KeyError, ValueError):
            return 400, "missing or malformed event"
        if not event.get("event_type") or event.get("platform") not in ("ios", "android"):
            return 400, "event_type and platform are required"
        if self.throttle_every and self.requests % self.throttle_every == 0:
            return 429, "too many requests"
        if self.fail_first > 0 or self.fail_when(event):
            self.fail_first = max(0, self.fail_first - 1)
            return self.fail_status, "temporarily unavailable"
        if self.reject(event):
            return 400, f"invalid event: {event.get('event_type')} refused by test"
        self.events.append(event)
        return 200, self.success_body

    def counts(self) -> Counter:
        """How many times each distinct event was acknowledged."""
        return Counter(json.dumps(e, sort_keys=True) for e in self.events)

    def __enter__(self) -> AttributionServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
