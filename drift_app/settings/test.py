"""Test settings: the same real PostgreSQL (embedded unless DATABASE_URL is set) and a real Redis."""

import os

# Tests are development mode: embedded PostgreSQL, the suite's own Redis (see base.py, "Production mode").
os.environ.setdefault("DEVELOPMENT_MODE", "true")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
# The suite's own redis-server (started by tests/conftest.py), never the demo's.
_redis = f"redis://127.0.0.1:{os.environ.get('DRIFTDESK_TEST_REDIS_PORT', '6399')}"
os.environ.setdefault("CELERY_BROKER_URL", f"{_redis}/0")
os.environ.setdefault("CACHE_URL", f"{_redis}/1")
# Tests talk to fake model servers and webhooks on 127.0.0.1 only; nothing else is allowed.
os.environ.setdefault("DRIFTDESK_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")

from .base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Sign-in throttling off by default: Client.login() authenticates without a request, which django-axes
# refuses. tests/robustness/test_web_hardening.py turns it on to test it.
AXES_ENABLED = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Lets two suites share one PostgreSQL server (e.g. a developer's and an editor's) without clashing.
if os.environ.get("DRIFTDESK_TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["DRIFTDESK_TEST_DB_NAME"]}  # noqa: F405
