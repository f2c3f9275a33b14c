"""The report lists alerts by the window they concern, not by when the verdict was computed."""

from __future__ import annotations

import datetime as dt

import pytest

from compliance import selectors
from tests.verdicts.helpers import T0, World, window
from verdicts import services

pytestmark = pytest.mark.django_db


def test_the_code_red_weeks_report_shows_its_code_red_computed_the_next_monday(personas):
    world = World(personas.bob)
    world.golden(pass_rate=0.9, at=T0 - dt.timedelta(days=1))
    world.golden(pass_rate=0.6, at=window(1)[0] + dt.timedelta(days=1), model_version="v3")
    world.served(1, "v3")
    world.drift(1, responses=True)
    # The verdict of week 1 is computed now, long after it: the alert is stamped outside the week.
    services.verdict_compute(deployment=world.deployment, window_start=window(1)[0], window_end=window(1)[1])
    figures = selectors.report_figures(deployment=world.deployment, start=window(1)[0], end=window(1)[1])
    [alert] = figures["alerts"]["items"]
    assert alert["tier"] == "code_red" and alert["window_start"].startswith(f"{window(1)[0]:%Y-%m-%d}")
    assert alert["opened_at"] > alert["window_end"]
    # The week before has no alert of its own.
    before = selectors.report_figures(deployment=world.deployment, start=window(0)[0], end=window(0)[1])
    assert before["alerts"]["items"] == []
