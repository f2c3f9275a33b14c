"""Formatting for compliance pages and the PDF: figures hold fractions and raw numbers, people read percents."""

from django import template

register = template.Library()


@register.filter
def pct(value, digits: int = 2) -> str:
    """0.6234 -> "62.34%" (a fraction as a percentage); None -> "–"."""
    if value is None or value == "":
        return "–"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def pctpt(value, digits: int = 2) -> str:
    """12.5 -> "12.50%" (already a percentage)."""
    if value is None or value == "":
        return "–"
    return f"{float(value):.{int(digits)}f}%"


@register.filter
def num(value, digits: int = 4) -> str:
    if value is None or value == "":
        return "–"
    return f"{float(value):.{int(digits)}f}"


@register.filter
def day(value) -> str:
    """"2026-03-01T00:00:00Z" -> "2026-03-01"."""
    return (value or "")[:10] or "–"


@register.filter
def minute(value) -> str:
    """"2026-03-01T10:30:00Z" -> "2026-03-01 10:30 UTC"."""
    if not value:
        return "–"
    return f"{value[:10]} {value[11:16]} UTC"


@register.filter
def yesno_drift(value) -> str:
    return "–" if value is None else "drift" if value else "no drift"


@register.filter
def humanise(value) -> str:
    return str(value or "").replace("_", " ")


# Thresholds and policy settings as a reader names them, with their unit (the PDF and the pages).
SETTING_LABELS = {
    "drift_window": ("Drift window", ""),
    "drift_false_alarm_rate": ("Target false-alarm rate of the drift thresholds", " (share of windows)"),
    "min_window_samples": ("Fewest samples for a drift verdict", " samples"),
    "novel_share_alert": ("New-topic share that raises retraining advice", " (share of prompts)"),
    "code_red_drop_pct": ("Code-red drop in golden-set accuracy", "% below baseline"),
    "review_drop_pct": ("Weekly-review drop in golden-set accuracy", "% below baseline"),
    "material_drop_pct": ("Material-degradation drop", "% below baseline"),
    "quality_drift_pct": ("Quality-score band", "% relative change"),
    "code_red_open_after": ("Code-red windows before an alert opens", " windows"),
    "review_open_after": ("Review windows before a review item opens", " windows"),
    "close_after": ("Clean windows before an alert closes itself", " windows"),
    "flag_alpha": ("Significance level of the flag-rate test", ""),
    "retrain_js_windows": ("Windows of prompt drift before retraining advice", " windows"),
}


@register.filter
def setting_label(name) -> str:
    """"code_red_drop_pct" -> "Code-red drop in golden-set accuracy"."""
    return SETTING_LABELS.get(str(name), (str(name or "").replace("_", " ").capitalize(), ""))[0]


@register.filter
def setting_value(value, name) -> str:
    """A setting's value with its unit: 15.0, "code_red_drop_pct" -> "15% below baseline"."""
    unit = SETTING_LABELS.get(str(name), ("", ""))[1]
    if isinstance(value, float):
        value = f"{value:g}"
    return f"{value}{unit}"
