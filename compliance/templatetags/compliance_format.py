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
