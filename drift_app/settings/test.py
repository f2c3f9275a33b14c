"""Test settings: the same real PostgreSQL (embedded unless DATABASE_URL is set) and a real Redis."""

import os

from . import test_env  # noqa: F401  (sets the environment defaults base.py reads)
from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Sign-in throttling off by default: Client.login() authenticates without a request, which django-axes
# refuses. tests/robustness/test_web_hardening.py turns it on to test it.
AXES_ENABLED = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# The suite logs in as the owner role, which creates, migrates and cleans its database (tests/conftest.py), and
# runs every test body as the least-privilege runtime role: `-c role=` is SET ROLE at connection start, so
# current_user is the runtime role in every test, as in production (issue 14). Celery workers started by tests
# log in as the runtime role directly (tests.base.runtime_database_url).
DRIFTDESK_DB_RUNTIME_ROLE = os.environ.get("DRIFTDESK_DB_RUNTIME_ROLE", "driftdesk_app")
DRIFTDESK_DB_OWNER_ROLE = os.environ.get("DRIFTDESK_DB_OWNER_ROLE", "driftdesk_owner")
if DATABASE_OWNER_URL:  # noqa: F405
    _runtime = DATABASES["default"]  # noqa: F405
    DATABASES["default"] = {**_runtime, **database_config(DATABASE_OWNER_URL, "DATABASE_OWNER_URL")}  # noqa: F405
    DATABASES["default"]["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {}),
                                       "options": f"-c role={DRIFTDESK_DB_RUNTIME_ROLE}"}

# Lets two suites share one PostgreSQL server (e.g. a developer's and an editor's) without clashing.
if os.environ.get("DRIFTDESK_TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["DRIFTDESK_TEST_DB_NAME"]}  # noqa: F405
