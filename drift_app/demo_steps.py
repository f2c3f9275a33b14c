"""The later parts of the demo scenario, in order: golden set, feedback, drift runs."""

from __future__ import annotations


def run(*, deployment, users, timeline, stdout) -> None:
    pass
