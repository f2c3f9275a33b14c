"""The sections of a degradation report as named renderers with a version, in one registry.

A section is a :class:`ReportSection`: a ``name``, a ``title`` (the PDF heading), a ``version``
(raised whenever what the section states changes, so a stored report says which rendering it had),
``build(context) -> dict`` returning the figures it contributes (merged into the report's figures
dict: PDF, CSV and JSON all render the same figures), and ``template``, the HTML fragment the PDF
includes under its heading (it reads the figures as ``f``).

How to add a section
--------------------
1. Write ``def my_section(ctx: ReportContext) -> dict`` (deterministic: sorted rows, rounded floats,
   UTC ISO times — see compliance/selectors.py) and a template ``reports/sections/my_section.html``.
2. ``register(ReportSection(name="my_section", title="…", version=1, build=my_section,
   template="reports/sections/my_section.html"))`` — after the built-in ones (selectors.py
   registers those) to be printed last, or with ``position=`` to place it.
3. Nothing else: ``report_figures`` builds every registered section, the PDF prints them in order
   and the figures list each section's name and version. ``tests/compliance/test_sections.py`` shows it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class ReportContext:
    """One report's inputs, plus a memo so sections share what they compute (e.g. the accuracy trend)."""

    deployment: Any
    start: dt.datetime
    end: dt.datetime
    memo: dict = field(default_factory=dict)

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]


@dataclass(frozen=True)
class ReportSection:
    name: str
    title: str
    version: int
    build: Callable[[ReportContext], dict]
    template: str

    def describe(self) -> dict:
        return {"name": self.name, "title": self.title, "version": self.version}


_REGISTRY: list[ReportSection] = []


def register(section: ReportSection, *, position: int | None = None, replace: bool = False) -> ReportSection:
    existing = [i for i, s in enumerate(_REGISTRY) if s.name == section.name]
    if existing:
        if not replace:
            raise ValueError(f"report section {section.name!r} is already registered")
        _REGISTRY[existing[0]] = section
        return section
    _REGISTRY.insert(len(_REGISTRY) if position is None else position, section)
    return section


def unregister(name: str) -> None:
    _REGISTRY[:] = [s for s in _REGISTRY if s.name != name]


def sections() -> tuple[ReportSection, ...]:
    return tuple(_REGISTRY)
