from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from tests.base import make_personas


def redis_binary() -> str:
    from drift_app.localstack import redis_binary as find

    return find()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="session", autouse=True)
def redis_server():
    """The suite's own real redis-server on 127.0.0.1 (port DRIFTDESK_TEST_REDIS_PORT, default 6399)."""
    port = int(os.environ.get("DRIFTDESK_TEST_REDIS_PORT", "6399"))
    proc = None
    workdir = tempfile.mkdtemp(prefix="driftdesk-redis-")
    if not _port_open(port):
        proc = subprocess.Popen(
            [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", workdir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if _port_open(port):
                break
            time.sleep(0.05)
        else:
            proc.kill()
            raise RuntimeError("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    if proc is not None:
        proc.terminate()
        proc.wait(5)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def personas(db):
    return make_personas()


@pytest.fixture(autouse=True)
def _clear_cache(redis_server):
    # Rate-limit counters and other cache entries never leak from one test into the next.
    from django.core.cache import cache

    cache.clear()
