"""Shared set-up for benchmarks that need the real stack: a scratch database on the same
PostgreSQL, a scratch redis-server, Django configured against both. Not a benchmark itself."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Benchmarks run on a developer machine: embedded PostgreSQL and scratch Redis (settings, "Production mode").
os.environ.setdefault("DEVELOPMENT_MODE", "true")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen, str]:
    from drift_app.localstack import redis_binary

    port = free_port()
    proc = subprocess.Popen(
        [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", tempfile.mkdtemp(prefix="bench-redis-")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def scratch_database(name: str) -> str:
    """A fresh database `name` on the configured server (embedded unless DATABASE_URL is set), migrated."""
    import psycopg

    base = os.environ.get("DATABASE_URL")
    if not base:
        from drift_app import embedded_pg

        base = embedded_pg.ensure_running()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    prefix, _, query = base.partition("?")
    url = prefix.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "true"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    return url




def setup_django(database_url: str, broker_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["CELERY_BROKER_URL"] = broker_url
    os.environ["CACHE_URL"] = broker_url.rsplit("/", 1)[0] + "/1"
    os.environ.setdefault("DEBUG", "true")
    os.environ["DJANGO_SETTINGS_MODULE"] = "drift_app.settings.base"
    import django

    django.setup()


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
