"""The report-section registry: a new section is built into the figures and printed in the PDF's HTML."""

from __future__ import annotations

import datetime as dt

import pytest

from compliance import render, sections, selectors

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
END = dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def extra_section(tmp_path, settings):
    (tmp_path / "reports" / "sections").mkdir(parents=True)
    (tmp_path / "reports" / "sections" / "sign_off.html").write_text("<p>Signed off by {{ f.sign_off.by }}</p>")
    # Assigned, not mutated, so Django's setting_changed signal rebuilds the template engines.
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    section = sections.register(sections.ReportSection(
        name="sign_off", title="Sign-off", version=3, build=lambda ctx: {"sign_off": {"by": "the board"}},
        template="reports/sections/sign_off.html",
    ))
    yield section
    sections.unregister("sign_off")


def test_the_built_in_sections_are_registered_in_print_order():
    assert [s.name for s in sections.sections()][:3] == ["material_degradation", "system", "monitoring_plan"]


def test_a_registered_section_is_built_named_with_its_version_and_printed(scenario, extra_section):
    figures = selectors.report_figures(deployment=scenario.deployment, start=START, end=END)
    assert figures["sign_off"] == {"by": "the board"}
    assert {"name": "sign_off", "title": "Sign-off", "version": 3} in figures["sections"]
    html = render.html(figures)
    assert "Sign-off</h2>" in html and "Signed off by the board" in html
    assert html.index("Material degradation</h2>") < html.index("Sign-off</h2>")


def test_section_names_are_unique():
    with pytest.raises(ValueError, match="already registered"):
        sections.register(sections.sections()[0])
