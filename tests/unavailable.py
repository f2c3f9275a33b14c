"""One rule for tests that need something outside the project (Docker Engine, Debian's compose, ../shared data)."""

from __future__ import annotations

import os

import pytest


def outside_the_project(reason: str) -> None:
    """Fail under CI=true (CI has everything a test needs); elsewhere skip, naming what is missing.

    Only for what the project cannot provide itself: a developer machine without Docker Engine or
    without the ../shared data beside the clone.
    """
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and this test cannot run: {reason}")
    pytest.skip(f"outside the project: {reason}; under CI=true this fails")
