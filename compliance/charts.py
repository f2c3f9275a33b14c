"""Server-side SVG charts for the PDF report. Pure functions of the figures: no Django, no JavaScript.

Coordinates are written with fixed decimals so the same figures always give the same SVG text (and,
WeasyPrint being deterministic, the same PDF bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 680, 230
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 44
COLORS = {"line": "#1f4e79", "second": "#b35806", "baseline": "#2e7d32", "threshold": "#c62828", "grid": "#dddddd",
          "text": "#333333"}
VERDICT_COLORS = {"genuine_degradation": "#c62828", "benign_change": "#1565c0", "stable": "#2e7d32",
                  "insufficient_evidence": "#5b6475"}


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float | None]
    color: str
    dashed: bool = False
    points: bool = True


def _f(x: float) -> str:
    return f"{x:.1f}"


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _frame(title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" font-family="DejaVu Sans, sans-serif" font-size="10">',
    ]


def empty(title: str, message: str) -> str:
    parts = _frame(title)
    parts.append(f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle" fill="{COLORS["text"]}">'
                 f'{escape(message)}</text></svg>')
    return "".join(parts)


def line_chart(*, title: str, labels: list[str], series: list[Series], y_min: float | None = None,
               y_max: float | None = None, y_suffix: str = "", empty_message: str = "No data in the period") -> str:
    values = [v for s in series for v in s.values if v is not None]
    if not labels or not values:
        return empty(title, empty_message)
    lo = min(values) if y_min is None else y_min
    hi = max(values) if y_max is None else y_max
    if hi == lo:
        hi, lo = hi + 1, lo - 1
    n = len(labels)
    if n < SHORT_PERIOD:
        return _bar_chart(title=title, labels=labels, series=series, lo=lo, hi=hi, y_suffix=y_suffix)
    x = _scale(0, max(n - 1, 1), LEFT + 8, WIDTH - RIGHT - 8)
    y = _scale(lo, hi, HEIGHT - BOTTOM, TOP)
    parts = _frame(title)
    for i in range(5):  # horizontal grid with tick labels
        v = lo + (hi - lo) * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_f(y(v))}" y2="{_f(y(v))}" stroke="{COLORS["grid"]}"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{_f(y(v) + 3)}" text-anchor="end" fill="{COLORS["text"]}">{v:.3g}{y_suffix}</text>')
    step = max(1, -(-n // 10))
    for i, label in enumerate(labels):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text x="{_f(x(i))}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                         f'fill="{COLORS["text"]}">{escape(label)}</text>')
    for s in series:
        segments, current = [], []
        for i, v in enumerate(s.values):
            if v is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append(f"{_f(x(i))},{_f(y(v))}")
        if current:
            segments.append(current)
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        for seg in segments:
            parts.append(f'<polyline fill="none" stroke="{s.color}" stroke-width="1.6"{dash} points="{" ".join(seg)}"/>')
        if s.points:
            for i, v in enumerate(s.values):
                if v is not None:
                    parts.append(f'<circle cx="{_f(x(i))}" cy="{_f(y(v))}" r="2.4" fill="{s.color}"/>')
    lx = LEFT
    for s in series:  # legend
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        parts.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{HEIGHT - 10}" y2="{HEIGHT - 10}" stroke="{s.color}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{lx + 22}" y="{HEIGHT - 6}" fill="{COLORS["text"]}">{escape(s.label)}</text>')
        lx += 30 + 6 * len(s.label)
    parts.append("</svg>")
    return "".join(parts)


# Fewer points than this make a line chart a lone dot or a single segment: bars say more.
SHORT_PERIOD = 3


def _grid(parts: list[str], lo: float, hi: float, y, y_suffix: str) -> None:
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_f(y(v))}" y2="{_f(y(v))}" stroke="{COLORS["grid"]}"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{_f(y(v) + 3)}" text-anchor="end" fill="{COLORS["text"]}">{v:.3g}{y_suffix}</text>')


def _bar_chart(*, title: str, labels: list[str], series: list[Series], lo: float, hi: float, y_suffix: str) -> str:
    """A short period: one group of bars per label (the measured series), dashed reference lines across
    each group (the series drawn without points: baselines and thresholds), each bar with its value."""
    lo = min(lo, 0.0)
    y = _scale(lo, hi, HEIGHT - BOTTOM, TOP)
    parts = _frame(title)
    _grid(parts, lo, hi, y, y_suffix)
    bars = [s for s in series if s.points]
    lines = [s for s in series if not s.points]
    group = (WIDTH - LEFT - RIGHT) / len(labels)
    bar_w = min(60.0, group * 0.7 / max(len(bars), 1))
    for i, label in enumerate(labels):
        g0 = LEFT + i * group
        start = g0 + (group - bar_w * len(bars)) / 2
        for j, s in enumerate(bars):
            v = s.values[i] if i < len(s.values) else None
            if v is None:
                continue
            x0, top = start + j * bar_w, y(v)
            parts.append(f'<rect x="{_f(x0)}" y="{_f(top)}" width="{_f(bar_w - 2)}" height="{_f(y(lo) - top)}" fill="{s.color}"/>')
            parts.append(f'<text x="{_f(x0 + bar_w / 2 - 1)}" y="{_f(top - 3)}" text-anchor="middle" '
                         f'fill="{COLORS["text"]}">{v:.4g}{y_suffix}</text>')
        for s in lines:
            v = s.values[i] if i < len(s.values) else None
            if v is not None:
                parts.append(f'<line x1="{_f(g0 + 4)}" x2="{_f(g0 + group - 4)}" y1="{_f(y(v))}" y2="{_f(y(v))}" '
                             f'stroke="{s.color}" stroke-width="1.6" stroke-dasharray="5,3"/>')
        parts.append(f'<text x="{_f(g0 + group / 2)}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                     f'fill="{COLORS["text"]}">{escape(label)}</text>')
    lx = LEFT
    for s in series:
        dash = ' stroke-dasharray="5,3"' if not s.points else ""
        parts.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{HEIGHT - 10}" y2="{HEIGHT - 10}" stroke="{s.color}" stroke-width="{2 if s.points else 1.6}"{dash}/>')
        parts.append(f'<text x="{lx + 22}" y="{HEIGHT - 6}" fill="{COLORS["text"]}">{escape(s.label)}</text>')
        lx += 30 + 6 * len(s.label)
    parts.append("</svg>")
    return "".join(parts)


def verdict_strip(*, title: str, labels: list[str], classes: list[str]) -> str:
    """One coloured cell per window: the verdict timeline."""
    if not labels:
        return empty(title, "No verdicts in the period")
    height = 70
    n = len(labels)
    width = (WIDTH - LEFT - RIGHT) / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}" font-family="DejaVu Sans, sans-serif" font-size="9">'
    ]
    for i, (label, cls) in enumerate(zip(labels, classes)):
        color = VERDICT_COLORS.get(cls, "#9e9e9e")
        parts.append(f'<rect x="{_f(LEFT + i * width)}" y="8" width="{_f(max(width - 1, 0.5))}" height="22" fill="{color}"/>')
    step = max(1, -(-n // 8))
    for i, label in enumerate(labels):
        if i % step == 0:
            parts.append(f'<text x="{_f(LEFT + i * width)}" y="42" fill="{COLORS["text"]}">{escape(label)}</text>')
    lx = LEFT
    for cls, color in VERDICT_COLORS.items():
        parts.append(f'<rect x="{lx}" y="52" width="10" height="10" fill="{color}"/>')
        name = cls.replace("_", " ").capitalize()
        parts.append(f'<text x="{lx + 14}" y="61" fill="{COLORS["text"]}">{escape(name)}</text>')
        lx += 24 + 6 * len(name)
    parts.append("</svg>")
    return "".join(parts)


def report_charts(figures: dict) -> dict[str, str]:
    """The report's charts, keyed by name, from the figures dict."""
    trend = figures["accuracy"]["trend"]
    material_pct = figures["material_degradation"]["threshold_pct"] or 0.0
    base = figures["accuracy"]["baseline"]
    labels = [f'{t["evaluated_at"][:10]} {t["model_version"]}' for t in trend]
    rates = [None if t["pass_rate"] is None else t["pass_rate"] * 100 for t in trend]
    baselines = [None if t["baseline_pass_rate"] is None else t["baseline_pass_rate"] * 100 for t in trend]
    if base and not any(b is not None for b in baselines):
        baselines = [base["pass_rate"] * 100] * len(trend)
    material_line = [None if b is None else b * (1 - material_pct / 100) for b in baselines]
    accuracy = line_chart(
        title="Golden-set accuracy against baseline", labels=labels, y_min=0, y_max=100, y_suffix="%",
        series=[
            Series("accuracy", rates, COLORS["line"]),
            Series("baseline", baselines, COLORS["baseline"], dashed=True, points=False),
            Series(f"material threshold (-{material_pct:g}%)", material_line, COLORS["threshold"], dashed=True, points=False),
        ],
        empty_message="No golden-set evaluation in the period",
    )
    windows = figures["drift"]["windows"]
    w_labels = [w["window_start"][5:10] for w in windows]

    def stat(target: str, key: str):
        return [(w[target] or {}).get(key) for w in windows]

    js = line_chart(
        title="Jensen-Shannon divergence per window", labels=w_labels,
        series=[
            Series("prompts", stat("prompts", "js"), COLORS["line"]),
            Series("prompts threshold", stat("prompts", "js_threshold"), COLORS["threshold"], dashed=True, points=False),
            Series("responses", stat("responses", "js"), COLORS["second"]),
            Series("responses threshold", stat("responses", "js_threshold"), "#ef9a9a", dashed=True, points=False),
        ],
        y_min=0, empty_message="No drift runs in the period",
    )
    novel = line_chart(
        title="Novel-topic share of prompts per window", labels=w_labels, y_min=0, y_suffix="%",
        series=[
            Series("novel share", [None if v is None else v * 100 for v in stat("prompts", "novel_share")], COLORS["line"]),
            Series("alert share", [figures["monitoring_plan"]["thresholds"]["novel_share_alert"] * 100] * len(windows),
                   COLORS["threshold"], dashed=True, points=False),
        ],
        empty_message="No drift runs in the period",
    )
    verdict_rows = figures["verdicts"]["windows"]
    strip = verdict_strip(title="Verdict per window", labels=[v["window_start"][5:10] for v in verdict_rows],
                          classes=[v["verdict"] for v in verdict_rows])
    return {"accuracy": accuracy, "js": js, "novel": novel, "verdicts": strip}
