"""The report's three renderings of one figures dict: PDF (WeasyPrint), CSV and JSON.

The PDF holds only the figures and their SHA-256, never the time or user of generation (those are on
the stored ComplianceReport): the same figures then give the same PDF bytes with the same WeasyPrint
and fonts, so `verify` can compare PDFs as well as figures.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from importlib.metadata import PackageNotFoundError, version

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from . import charts, sections
from .selectors import SCHEMA_VERSION, canonical_json, figures_sha256

# WeasyPrint logs every layout step at INFO; a report is one line in our own log, not twenty.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


def weasyprint_version() -> str:
    try:
        return version("weasyprint")
    except PackageNotFoundError:  # pragma: no cover - weasyprint is in requirements.txt
        return "missing"


def generator() -> str:
    return f"driftdesk-compliance/{SCHEMA_VERSION} weasyprint/{weasyprint_version()}"


def _sections_of(figures: dict) -> list[sections.ReportSection]:
    # Figures stored before sections were registered list none: they hold every built-in section.
    named = {d["name"] for d in figures.get("sections", [])}
    return [s for s in sections.sections() if not named or s.name in named]


def html(figures: dict, *, audit_chain_head: str = "") -> str:
    """The report as HTML; `audit_chain_head` (the audit trail's hash chain head when generated) is printed
    under the figures' hash. It is not a figure: the figures stay reproducible while the trail grows."""
    svg = {name: mark_safe(markup) for name, markup in charts.report_charts(figures).items()}  # noqa: S308 - our own SVG, every label escaped
    return render_to_string("reports/report.html", {
        "f": figures, "charts": svg, "figures_sha256": figures_sha256(figures),
        "thresholds": sorted(figures["monitoring_plan"]["thresholds"].items()),
        "sections": _sections_of(figures), "audit_chain_head": audit_chain_head,
    })


def pdf(figures: dict, *, audit_chain_head: str = "") -> bytes:
    # Imported here: WeasyPrint loads pango through cffi, which only report generation needs.
    import weasyprint

    return weasyprint.HTML(string=html(figures, audit_chain_head=audit_chain_head), base_url=None).write_pdf()


def as_json(figures: dict) -> str:
    """The JSON download: the canonical figures text (so its SHA-256 equals figures_sha256)."""
    return canonical_json(figures)


def pretty_json(figures: dict) -> str:
    return json.dumps(figures, sort_keys=True, indent=2, ensure_ascii=False)


def _flatten(prefix: str, value, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        if not value:
            out.append((prefix, "{}"))
        for key in sorted(value):
            _flatten(f"{prefix}.{key}" if prefix else key, value[key], out)
    elif isinstance(value, list):
        if not value:
            out.append((prefix, "[]"))
        for i, item in enumerate(value):
            _flatten(f"{prefix}[{i}]", item, out)
    elif value is None:
        out.append((prefix, ""))
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    else:
        out.append((prefix, str(value)))


def csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas: a text cell starting with = + - @ is prefixed with a quote.

    Comments and explanations are typed by users; opened in a spreadsheet they must stay text.
    """
    if value and value[0] in "=+-@\t\r":
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def as_csv(figures: dict) -> str:
    """Every figure as one row: section, path (e.g. accuracy.trend[2].pass_rate), value."""
    rows: list[tuple[str, str]] = []
    _flatten("", figures, rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "path", "value"])
    for path, value in rows:
        writer.writerow([path.split(".", 1)[0].split("[", 1)[0], path, csv_safe(value)])
    return buffer.getvalue()
