"""Test settings: the same real PostgreSQL (embedded unless DATABASE_URL is set) and a real Redis."""

import os

from . import test_env  # noqa: F401  (sets the environment defaults base.py reads)
from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Sign-in throttling off by default: Client.login() authenticates without a request, which django-axes
# refuses. tests/robustness/test_web_hardening.py turns it on to test it.
AXES_ENABLED = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# Lets two suites share one PostgreSQL server (e.g. a developer's and an editor's) without clashing.
if os.environ.get("DRIFTDESK_TEST_DB_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": os.environ["DRIFTDESK_TEST_DB_NAME"]}  # noqa: F405
