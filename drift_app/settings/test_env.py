"""Environment defaults of the test settings, set when this module is imported: test.py imports it before
base.py, which reads them. Tests are development mode (embedded PostgreSQL, see base.py "Production mode") with
the suite's own redis-server (started by tests/conftest.py, never the demo's)."""

import os

os.environ.setdefault("DEVELOPMENT_MODE", "true")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
_redis = f"redis://127.0.0.1:{os.environ.get('DRIFTDESK_TEST_REDIS_PORT', '6399')}"
os.environ.setdefault("CELERY_BROKER_URL", f"{_redis}/0")
os.environ.setdefault("CACHE_URL", f"{_redis}/1")
# Tests talk to fake model servers and webhooks on 127.0.0.1 only; nothing else is allowed.
os.environ.setdefault("DRIFTDESK_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")
