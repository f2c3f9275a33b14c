"""The report CSV is one long tidy table with typed columns a spreadsheet can pivot (issue 18, item 5):
section, window, subject, statistic, value, unit, and the threshold beside the statistic it bounds."""

from __future__ import annotations

import csv
import io

import pytest

from compliance import render, services

from .conftest import END, START

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(scenario, personas):
    report = services.report_generate(deployment=scenario.deployment, start=START, end=END, user=personas.charlie)
    return report, list(csv.DictReader(io.StringIO(report.csv)))


def _leaves(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _leaves(v)
    elif isinstance(node, list):
        for v in node:
            yield from _leaves(v)
    else:
        yield node


def test_the_csv_has_typed_columns_and_no_key_paths(rows):
    report, table = rows
    assert list(table[0]) == render.CSV_COLUMNS
    assert not any("[" in r["statistic"] for r in table), "no key paths like trend[0].pass_rate"
    assert {r["unit"] for r in table} <= {"percent", "fraction", "count", "number", "boolean", "text", "list"}


def test_each_evaluation_is_a_row_per_statistic_with_its_date_and_model(rows, scenario):
    report, table = rows
    for t in report.figures["accuracy"]["trend"]:
        row = next(r for r in table if r["section"] == "accuracy" and r["statistic"] == "trend.pass_rate"
                   and r["window_start"] == t["evaluated_at"] and f"model version {t['model_version']}" in r["subject"])
        assert float(row["value"]) == t["pass_rate"] and row["unit"] == "fraction"
    drop = next(r for r in table if r["section"] == "accuracy" and r["statistic"] == "trend.relative_drop_pct"
                and "model version v3" in r["subject"])
    assert (float(drop["value"]), drop["unit"]) == (22.5, "percent")
    assert float(drop["threshold"]) == scenario.deployment.material_drop_pct and drop["beyond_threshold"] == "true"


def test_drift_statistics_carry_their_threshold_and_whether_they_were_beyond_it(rows):
    report, table = rows
    js = [r for r in table if r["section"] == "drift" and r["statistic"] == "js"]
    windows = report.figures["drift"]["windows"]
    assert len(js) == 2 * len(windows)  # one per window and target
    for r in js:
        assert r["window_start"] and r["window_end"] and ("prompts" in r["subject"] or "responses" in r["subject"])
        assert r["beyond_threshold"] == ("true" if float(r["value"]) > float(r["threshold"]) else "false")


def test_every_number_of_the_figures_is_in_the_table(rows):
    report, table = rows
    cells = {c for r in table for c in r.values()}
    numbers = {str(v) for k, v in report.figures.items() if k not in ("schema_version", "sections")
               for v in _leaves(v) if isinstance(v, (int, float)) and not isinstance(v, bool)}
    missing = {n for n in numbers if n not in cells and not any(n in c for c in cells)}
    assert not missing
