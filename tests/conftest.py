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


def _role_option(*, on: bool) -> None:
    """Test bodies run as the runtime role: the connection's `-c role=` option (drift_app/settings/test.py).
    Off while the database is created, migrated and dropped, which the owner does."""
    from django.conf import settings
    from django.db import connections

    options = connections["default"].settings_dict.setdefault("OPTIONS", {})
    if on:
        options["options"] = f"-c role={settings.DRIFTDESK_DB_RUNTIME_ROLE}"
    else:
        options.pop("options", None)
    connections["default"].close()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    _role_option(on=False)


def _flush_as_owner(original):
    """pytest-django empties the database after a transactional test with TRUNCATE, which the audit tables'
    trigger refuses to anyone (compliance 0009). The clean-up is the owner's: it switches the TRUNCATE guard
    off around the flush, inside the flush's transaction, and hands the session back to the runtime role.
    Only the test suite does this; nothing in the app can (the runtime role owns no table)."""
    from django.conf import settings

    from drift_app.dbroles import AUDIT_TABLES

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        sql = original(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        audit = [t for t in AUDIT_TABLES if t in tables]
        if not sql or not audit:
            return sql
        return [f"SET ROLE {settings.DRIFTDESK_DB_OWNER_ROLE}",
                *[f"ALTER TABLE {t} DISABLE TRIGGER {t}_no_truncate" for t in audit], *sql,
                *[f"ALTER TABLE {t} ENABLE TRIGGER {t}_no_truncate" for t in audit],
                f"SET ROLE {settings.DRIFTDESK_DB_RUNTIME_ROLE}"]

    return sql_flush


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After the owner has created and migrated the test database: the runtime role's grants (as `make migrate`
    runs `db_roles`), then every connection acts as the runtime role."""
    from django.conf import settings
    from django.db import connection
    from django.db.backends.postgresql.operations import DatabaseOperations

    from drift_app.dbroles import roles_sql

    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute(roles_sql(owner=settings.DRIFTDESK_DB_OWNER_ROLE, runtime=settings.DRIFTDESK_DB_RUNTIME_ROLE))
        _role_option(on=True)
    original = DatabaseOperations.sql_flush
    DatabaseOperations.sql_flush = _flush_as_owner(original)
    yield
    DatabaseOperations.sql_flush = original
    with django_db_blocker.unblock():
        _role_option(on=False)


@pytest.fixture
def personas(db):
    return make_personas()


@pytest.fixture(autouse=True)
def _clear_cache(redis_server):
    # Rate-limit counters and other cache entries never leak from one test into the next.
    from django.core.cache import cache

    cache.clear()
