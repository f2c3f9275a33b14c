from __future__ import annotations

import pytest

from tests.verdicts.helpers import World


@pytest.fixture
def world(personas):
    return World(personas.bob)


@pytest.fixture
def eager_celery():
    """Run queued tasks in-process (the notification task) for the duration of a test."""
    from drift_app.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture(autouse=True)
def _alert_targets(settings):
    # The on-call address of these tests; no webhook unless a test sets one.
    settings.DRIFTDESK_ALERT_EMAILS = ["oncall@example.org"]
    settings.DRIFTDESK_ALERT_WEBHOOK_URL = ""
