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


# The CSV is one long ("tidy") table a spreadsheet can pivot: one row per figure, typed columns.
CSV_COLUMNS = ["section", "window_start", "window_end", "subject", "statistic", "value", "unit", "threshold",
               "beyond_threshold"]
_WINDOW_KEYS = {"window_start": 0, "evaluated_at": 0, "opened_at": 0, "window_end": 1}
_SUBJECT_KEYS = ("model_version", "run_id", "id", "tier", "signal", "number", "sme_a", "sme_b")
# A statistic and the threshold it is compared with (the threshold goes in the threshold column).
_THRESHOLD_OF = {"js": "js_threshold", "wasserstein": "wasserstein_threshold"}
_SKIP = {"schema_version", "sections"}


def _unit(stat: str, value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "text"
    if stat.endswith("_pct"):
        return "percent"
    if stat.endswith(("_rate", "_share")) or stat in ("pass_rate", "novel_share", "alpha", "kappa") or stat.endswith("alpha"):
        return "fraction"
    if isinstance(value, int):
        return "count"
    return "number"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    return str(value)


def _tidy(section: str, node, out: list[list[str]], *, window=("", ""), subject: tuple = (), stat: str = "",
          material_pct=None) -> None:
    if isinstance(node, list):
        if all(not isinstance(v, (dict, list)) for v in node):
            out.append([section, *window, " · ".join(subject), stat, _cell(node), "list", "", ""])
            return
        for i, item in enumerate(node):
            keyed = isinstance(item, dict) and any(k in item for k in (*_SUBJECT_KEYS, *_WINDOW_KEYS))
            _tidy(section, item, out, window=window, subject=subject if keyed else (*subject, f"{stat or section} {i + 1}"),
                  stat=stat, material_pct=material_pct)
        return
    if not isinstance(node, dict):
        out.append([section, *window, " · ".join(subject), stat or section, _cell(node), _unit(stat, node), "", ""])
        return
    w = list(window)
    for key, pos in _WINDOW_KEYS.items():
        if isinstance(node.get(key), str):
            w[pos] = node[key] if not w[pos] or key != "opened_at" else w[pos]
    subj = (*subject, *(f"{k.replace('_', ' ')} {node[k]}" for k in _SUBJECT_KEYS
                        if k in node and not isinstance(node[k], (dict, list)) and node[k] is not None))
    thresholds = set(_THRESHOLD_OF.values())
    for key in sorted(node):
        value = node[key]
        if key in _WINDOW_KEYS or key in _SUBJECT_KEYS or key in thresholds:
            continue
        name = f"{stat}.{key}" if stat and not isinstance(value, (dict, list)) and stat not in ("prompts", "responses") else key
        if isinstance(value, (dict, list)):
            sub = (*subj, key) if key in ("prompts", "responses") else subj
            _tidy(section, value, out, window=tuple(w), subject=sub, stat="" if key in ("prompts", "responses") else key,
                  material_pct=material_pct)
            continue
        threshold, beyond = "", ""
        if key in _THRESHOLD_OF and node.get(_THRESHOLD_OF[key]) is not None and value is not None:
            threshold = node[_THRESHOLD_OF[key]]
            beyond = _cell(value > threshold)
        elif key == "relative_drop_pct" and material_pct is not None and value is not None:
            threshold, beyond = material_pct, _cell(value > material_pct)
        out.append([section, *w, " · ".join(subj), name, _cell(value), _unit(key, value), _cell(threshold), beyond])


def tidy_rows(figures: dict) -> list[list[str]]:
    """Every figure as one typed row (see CSV_COLUMNS): windows in their own columns, thresholds beside the
    statistic they bound, so the CSV pivots by section, window or statistic without parsing key paths."""
    material_pct = (figures.get("material_degradation") or {}).get("threshold_pct")
    out: list[list[str]] = []
    for section in sorted(k for k in figures if k not in _SKIP):
        _tidy(section, figures[section], out, material_pct=material_pct)
    return out


def as_csv(figures: dict) -> str:
    """The tidy table (CSV_COLUMNS); text cells that look like formulas are kept as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in tidy_rows(figures):
        writer.writerow([csv_safe(c) for c in row])
    return buffer.getvalue()
