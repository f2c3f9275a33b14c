"""Chaos on the real stack: a second redis-server we may kill, the embedded PostgreSQL we may restart."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from tests.conftest import _port_open, redis_binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DisposableRedis:
    """A real redis-server of our own on a free port, to stop and start mid-test."""

    def __init__(self):
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="driftdesk-chaos-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if _port_open(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for _ in range(100):
            if not _port_open(self.port):
                return
            time.sleep(0.05)


@pytest.fixture
def disposable_redis():
    redis = DisposableRedis()
    redis.start()
    yield redis
    redis.kill()
    shutil.rmtree(redis.dir, ignore_errors=True)


def use_broker(url: str) -> None:
    """Point this process's Celery app at another broker (its pools are rebuilt on next use)."""
    from drift_app.celery import app

    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    app.conf.broker_write_url = None
    app.conf.broker_read_url = None
    # Not closed, only dropped: kombu keeps pools per connection URL and reconnects a stale one on publish.
    app._pool = None
    app.amqp._producer_pool = None


class EmbeddedPostgres:
    """Stop and start the worktree's embedded PostgreSQL with the options it was started with."""

    def __init__(self):
        from drift_app.embedded_pg import pgdata_dir

        self.pgdata = pgdata_dir()
        opts = shlex.split((self.pgdata / "postmaster.opts").read_text())
        self.bin = opts[0].rsplit("/", 1)[0]
        # Everything after "-D <dir>": the socket directory and listen addresses.
        rest = opts[1:]
        i = rest.index("-D")
        self.options = " ".join(shlex.quote(a) for a in rest[:i] + rest[i + 2:])

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [f"{self.bin}/pg_ctl", "-w", "-D", str(self.pgdata), *args]
        if os.geteuid() == 0:
            cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(shlex.quote(c) for c in cmd)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        out = self._pg_ctl("stop", "-m", "fast")
        assert out.returncode == 0, out.stderr

    def start(self) -> None:
        out = self._pg_ctl("-o", self.options, "-l", str(self.pgdata / "chaos-restart.log"), "start")
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def embedded_postgres():
    if os.environ.get("DATABASE_URL"):
        # Outside the project: a developer's own server must never be stopped by a test. make test and CI
        # use the embedded server (no DATABASE_URL), where this test always runs.
        pytest.skip("outside the project: DATABASE_URL points at a server this test must never restart; "
                    "make test and CI use the embedded PostgreSQL, where it runs")
    pg = EmbeddedPostgres()
    yield pg
    # Whatever happened, leave the server running for the rest of the suite.
    if not (pg.pgdata / "postmaster.pid").exists():
        pg.start()
