"""Test settings with the verdicts app wired in, for running before the lead adds it to base settings.

Idempotent: once drift_app.settings.base lists the app and drift_app.urls includes its URLs this
module changes nothing and can be deleted.
    pytest --ds=tests.verdicts.wiring_settings tests/verdicts tests/e2e
"""

from drift_app.settings.test import *  # noqa: F401,F403
from drift_app.settings.test import INSTALLED_APPS

if "drift_app.verdicts" not in INSTALLED_APPS and "drift_app.verdicts.apps.VerdictsConfig" not in INSTALLED_APPS:
    INSTALLED_APPS = [*INSTALLED_APPS, "drift_app.verdicts"]
ROOT_URLCONF = "tests.verdicts.wiring_urls"
DRIFTDESK_ALERT_EMAILS = ["oncall@example.org"]
DRIFTDESK_ALERT_WEBHOOK_URL = ""
