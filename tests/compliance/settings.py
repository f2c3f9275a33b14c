"""Test settings for running tests/compliance before the lead wires the app into drift_app.settings.

`pytest --ds=tests.compliance.settings tests/compliance`: the project's test settings plus the
compliance app and its audit middleware, each added only when missing, so this stays correct (a no-op)
once drift_app/settings/base.py lists them itself. bench/report.py uses it the same way.
"""

from drift_app.settings.test import *  # noqa: F401,F403
from drift_app.settings.test import INSTALLED_APPS, MIDDLEWARE

for _app in ("drift_app.verdicts", "drift_app.compliance"):
    if _app not in INSTALLED_APPS and f"{_app}.apps" not in " ".join(INSTALLED_APPS):
        INSTALLED_APPS = [*INSTALLED_APPS, _app]

_AUDIT_MW = "drift_app.compliance.middleware.AuditActorMiddleware"
if _AUDIT_MW not in MIDDLEWARE:
    _at = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1
    MIDDLEWARE = [*MIDDLEWARE[:_at], _AUDIT_MW, *MIDDLEWARE[_at:]]
