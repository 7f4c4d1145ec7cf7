"""A throwaway PostgreSQL cluster on loopback, for the test of Airflow on a Postgres metadata DB.

Debian's server binaries (`initdb`, `postgres`) make a cluster in a folder of its own, listening on
127.0.0.1 only, on a free port, with its unix socket in that folder and trust authentication (no
password to hand around; nothing outside the machine can reach it). Durability is switched off:
the cluster lives for one test, and fsync on every commit would only slow the scheduler down.

Postgres refuses to run as root. Under root (as CI runs) both binaries run as the `postgres` user
and the folder is given to it; otherwise they run as the current user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

MISSING = "the Postgres test needs Debian's postgresql server binaries (initdb, postgres): `make test-postgres` installs Debian's postgresql package"
START_LIMIT_SECONDS = 300  # a cold start on a quiet machine takes well under a second
STOP_LIMIT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_bindir() -> Path:
    """The folder holding `initdb` and `postgres`: pg_config's, else the newest of Debian's
    /usr/lib/postgresql/<version>/bin. pg_config alone is not enough: libpq-dev brings one
    whose bindir has no server in it."""
    candidates = []
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(Path(found.stdout.strip()))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=lambda p: int(Path(p).parent.name)
                                           if Path(p).parent.name.isdigit() else 0, reverse=True)]
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    pytest.fail(MISSING, pytrace=False)


class PostgresCluster:
    """`with PostgresCluster() as pg:` a running cluster with an empty database `pg.database`,
    reached at `pg.url(driver)`; stopped and its folder removed on leaving, also after a failure."""

    def __init__(self, database: str = "airflow") -> None:
        self.bindir = server_bindir()
        self.database = database
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        # Not under pytest's tmp_path: that sits in a folder only root may enter (0700), and a
        # unix socket's path must stay under 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="pytest-postgres-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root, and there is no `postgres` user to run the server as "
                            "(Debian's postgresql package makes it)", pytrace=False)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            # setpriv execs the server in its own place (runuser would stay as its parent), so the
            # process started is the postmaster itself, and a signal to it reaches the server.
            self.as_user = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups", "--"]

    def url(self, driver: str = "psycopg2") -> str:
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{self.database}"

    def __enter__(self) -> PostgresCluster:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        started = subprocess.run(
            [*self.as_user, str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
            capture_output=True, text=True, cwd=self.root)
        if started.returncode != 0:
            pytest.fail(f"initdb exited with {started.returncode}:\n{started.stdout[-2000:]}{started.stderr[-2000:]}")
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [*self.as_user, str(self.bindir / "postgres"), "-D", str(self.data),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
                 "-c", f"unix_socket_directories={self.root}",
                 # one test's cluster: nothing to keep after a crash
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.root, process_group=0)
        self._wait_ready()
        self._execute(f'CREATE DATABASE "{self.database}"')

    def _connect(self, database: str = "postgres"):
        import psycopg2  # the driver Airflow uses too (apache-airflow-providers-postgres)

        return psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database, connect_timeout=10)

    def _wait_ready(self) -> None:
        """Until the server accepts a connection: it answers "starting up" while it recovers."""
        import psycopg2

        begun = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"postgres exited with {self.proc.returncode}; its log:\n{self.log_tail()}")
            try:
                self._connect().close()
                return
            except psycopg2.OperationalError as error:
                if time.monotonic() - begun > START_LIMIT_SECONDS:
                    pytest.fail(f"postgres did not accept a connection in {START_LIMIT_SECONDS} s ({error}); "
                                f"its log:\n{self.log_tail()}")
            time.sleep(0.1)

    def _execute(self, sql: str) -> None:
        con = self._connect()
        try:
            con.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with con.cursor() as cur:
                cur.execute(sql)
        finally:
            con.close()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log yet)"

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGINT is Postgres's fast shutdown: clients are disconnected, the server stops.
            # SIGQUIT (immediate) and SIGKILL only for a server that does not.
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
                try:
                    self.proc.send_signal(sig)
                    self.proc.wait(STOP_LIMIT_SECONDS)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        shutil.rmtree(self.root, ignore_errors=True)
