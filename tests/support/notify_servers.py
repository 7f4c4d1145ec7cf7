"""Loopback stand-ins for the notify targets: a real SMTP server (aiosmtpd) and an HTTP server
that answers like a Slack incoming webhook, each scripted to fail the ways the tests need."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """Keeps every message it accepts; `refuse` answers DATA with 554 instead."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse = False
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "554 5.7.1 Message refused by policy"
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def html(self, index: int = -1) -> str:
        return self.messages[index].get_body(("html",)).get_content()

    def connection(self) -> dict:
        return {"conn_type": "smtp", "host": "127.0.0.1", "port": self.port,
                "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "sync@example.com",
                          "retry_limit": 1, "timeout": 5}}  # README: 0 never connects on smtp < 3.0.2

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()


class SlackServer:
    """POST /services/...: answers each request with the next of `script` (an HTTP status, or
    'stall' to answer only after `stall_seconds`), then 200 'ok'. Keeps the text of every message
    it answered 200."""

    SECRET_PATH = "/services/T000/B000/s3cr3t-webhook-token"

    def __init__(self, script: list = (), stall_seconds: float = 3.0) -> None:
        self.script = list(script)
        self.stall_seconds = stall_seconds
        self.texts: list[str] = []
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests += 1
                answer = server.script.pop(0) if server.script else 200
                if answer == "stall":
                    time.sleep(server.stall_seconds)
                    answer = 200
                if answer == 200 and self.path == SlackServer.SECRET_PATH:
                    server.texts.append(json.loads(body)["text"])
                    self._answer(200, b"ok")
                else:
                    self._answer(answer if answer != 200 else 404, b"invalid_payload")

            def _answer(self, status, body):
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{self.SECRET_PATH}"

    def connection(self) -> dict:
        return {"conn_type": "slackwebhook", "password": self.url}

    def __enter__(self) -> SlackServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
