"""Outside development mode the settings refuse to start without the variables that pick the shared
database, broker and cache; development mode (make demo, make test) keeps the local defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DATABASE_URL": "postgres://driftdesk:pw@db.internal:5432/driftdesk",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "CACHE_URL": "redis://redis.internal:6379/1",
    "SECRET_KEY": "a-production-secret-key-that-is-long-enough",
    "ALLOWED_HOSTS": "driftdesk.example.com",
}
PRINT = (
    "import json, sys, drift_app.settings.base as s; "
    "print(json.dumps({'debug': s.DEBUG, 'pool': s.DATABASES['default'].get('OPTIONS', {}).get('pool'), "
    "'conn_max_age': s.DATABASES['default']['CONN_MAX_AGE'], 'log_format': s.LOG_FORMAT, "
    "'embedded': 'drift_app.embedded_pg' in sys.modules}))"
)


def _settings(env: dict, code: str = PRINT) -> subprocess.CompletedProcess:
    keep = {k: v for k, v in os.environ.items()
            if k not in PRODUCTION and k not in ("DEVELOPMENT_MODE", "DEBUG", "REDIS_PORT") and not k.startswith("DB_")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**keep, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("missing", sorted(PRODUCTION))
def test_outside_development_mode_it_refuses_to_start_without_each_required_variable(missing):
    # Empty rather than absent: a developer's .env (make demo) must not fill the gap for this test.
    result = _settings({**PRODUCTION, missing: ""})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{missing} must be set: this is production mode" in result.stderr, result.stderr[-800:]


def test_outside_development_mode_a_missing_database_url_never_starts_an_embedded_postgresql(tmp_path):
    result = _settings({**PRODUCTION, "DATABASE_URL": "", "DRIFTDESK_PGDATA": str(tmp_path / "pgdata")})
    assert result.returncode != 0
    assert not (tmp_path / "pgdata").exists()


def test_with_every_variable_set_production_pools_connections_logs_json_and_is_not_in_debug():
    result = _settings(PRODUCTION)
    assert result.returncode == 0, result.stderr[-1500:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["debug"] is False
    assert loaded["embedded"] is False
    assert loaded["pool"] == {"min_size": 1, "max_size": 4, "timeout": 10.0}
    assert loaded["conn_max_age"] == 0
    assert loaded["log_format"] == "json"


def test_development_mode_keeps_the_embedded_postgresql_and_plain_logs_without_a_pool():
    result = _settings({"DEVELOPMENT_MODE": "true", "DEBUG": "true"})
    assert result.returncode == 0, result.stderr[-1500:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["embedded"] is True and loaded["pool"] is None and loaded["log_format"] == "text"


def test_a_pooled_connection_serves_queries_from_the_psycopg_pool():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'drift_app.settings.base'; django.setup(); "
        "from django.db import connection; c = connection.cursor(); c.execute('SELECT 41 + 1'); "
        "print(c.fetchone()[0], type(connection.pool).__module__)"
    )
    result = _settings({"DEVELOPMENT_MODE": "true", "DEBUG": "true", "DB_POOL": "true"}, code)
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.split()[-2:] == ["42", "psycopg_pool.pool"]


@pytest.mark.parametrize("env, message", [
    ({"DB_POOL_MAX_SIZE": "0"}, "DB_POOL_MAX_SIZE must be >= 1"),
    ({"METRICS_ALLOWED_NETWORKS": "everyone"}, "METRICS_ALLOWED_NETWORKS must list CIDR networks"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be json or text"),
])
def test_it_refuses_a_malformed_operations_setting(env, message):
    result = _settings({**PRODUCTION, **env})
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-800:]
