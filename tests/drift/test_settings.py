"""Settings come from the environment and fail loudly on bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_settings(**env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTDESK_") and k != "DEBUG"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import drift_app.settings.base as s; print(s.DATABASES['default']['NAME'])"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("env, message", [
    ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
    ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY must be set"),
    ({"DEBUG": "true", "DRIFTDESK_MAX_BATCH": "many"}, "DRIFTDESK_MAX_BATCH must be an integer"),
    ({"DEBUG": "true", "DRIFTDESK_MAX_BATCH": "0"}, "DRIFTDESK_MAX_BATCH must be >= 1"),
    ({"DEBUG": "true", "DATABASE_URL": "sqlite:///db.sqlite3"}, "DATABASE_URL must be a PostgreSQL URL"),
    ({"DEBUG": "true", "CELERY_BROKER_URL": "amqp://localhost"}, "CELERY_BROKER_URL must be a redis:// URL"),
    ({"DEBUG": "true", "DRIFTDESK_FLAG_RATE": "lots"}, "DRIFTDESK_FLAG_RATE must look like"),
])
def test_it_refuses_to_start_with_a_bad_setting(env, message):
    result = _load_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr, result.stderr[-1500:]


def test_without_database_url_it_uses_the_embedded_postgresql():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-c",
         "import drift_app.settings.base as s; d = s.DATABASES['default']; print(d['ENGINE'], d['HOST'])"],
        cwd=ROOT, env={**env, "DEBUG": "true"}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    engine, host = result.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert host.endswith("var/pgdata") or "pgdata" in host or host.startswith("/")


@pytest.mark.django_db
def test_the_database_has_pgvector_and_no_sqlite_is_involved():
    from django.db import connection

    assert connection.vendor == "postgresql"
    with connection.cursor() as c:
        c.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert c.fetchone() is not None
        c.execute("SHOW server_version_num")
        assert int(c.fetchone()[0]) >= 150000
