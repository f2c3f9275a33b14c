"""Fixtures for the robustness tests: one deployment with a few samples, golden items, a flag."""

from __future__ import annotations

import pytest

from tests import factories
from tests.feedback.conftest import make_samples


@pytest.fixture
def deployment(db):
    return factories.deployment()


@pytest.fixture
def samples(deployment):
    return make_samples(deployment, 3)
