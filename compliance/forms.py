"""Parsing of the period and audit filters shared by pages and the API: one error text everywhere."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_date, parse_datetime

from drift_app.validation import calendar_problem


def parse_instant(value: str, *, name: str) -> dt.datetime:
    """"2026-03-01" (midnight UTC) or an ISO 8601 instant; a naive time is read as UTC."""
    value = (value or "").strip()
    if not value:
        raise ValidationError({name: f"{name} is required (a date like 2026-03-01 or an ISO 8601 time)."})
    parsed = None
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            if day is not None:
                parsed = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationError({name: f"{name}={value!r} is not a date (2026-03-01) or an ISO 8601 time."})
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    problem = calendar_problem(parsed)
    if problem:
        raise ValidationError({name: f"{name}={value[:40]!r} {problem}."})
    return parsed


def parse_optional_instant(value: str | None, *, name: str) -> dt.datetime | None:
    return parse_instant(value, name=name) if (value or "").strip() else None


def error_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(" ".join(m for e in v for m in e.messages) for v in exc.error_dict.values())
    return " ".join(exc.messages)


def error_dict(exc: ValidationError) -> dict:
    if hasattr(exc, "error_dict"):
        return {k: " ".join(m for e in v for m in e.messages) for k, v in exc.error_dict.items()}
    return {"detail": " ".join(exc.messages)}


AUDIT_ACTIONS = ("create", "update", "delete", "role_add", "role_remove")


def audit_filters(params, *, deployment_lookup) -> dict:
    """Query parameters -> keyword arguments of selectors.audit_event_list. Raises ValidationError."""
    action = params.get("action", "").strip()
    if action and action not in AUDIT_ACTIONS:
        raise ValidationError({"action": f"action={action!r} is unknown; use one of {', '.join(AUDIT_ACTIONS)}."})
    deployment = None
    slug = params.get("deployment", "").strip()
    if slug:
        deployment = deployment_lookup(slug)
        if deployment is None:
            raise ValidationError({"deployment": f"No deployment with slug {slug!r}."})
    return {
        "actor": params.get("actor", "").strip(), "object_type": params.get("object_type", "").strip(),
        "action": action, "deployment": deployment, "object_id": params.get("object_id", "").strip(),
        "q": params.get("q", "").strip()[:200],
        "start": parse_optional_instant(params.get("start"), name="start"),
        "end": parse_optional_instant(params.get("end"), name="end"),
    }


def parse_period(*, month: str = "", start: str = "", end: str = "") -> tuple[dt.datetime, dt.datetime]:
    """A report period from a month ("2026-03") or from start and end (end excluded)."""
    from .services import check_period, month_bounds

    month = (month or "").strip()
    if month:
        if (start or "").strip() or (end or "").strip():
            raise ValidationError({"month": "Give either month or start and end, not both."})
        try:
            first = dt.date.fromisoformat(f"{month}-01")
        except ValueError:
            raise ValidationError({"month": f"month={month!r} must look like 2026-03."}) from None
        problem = calendar_problem(first)
        if problem:
            raise ValidationError({"month": f"month={month!r} {problem}."})
        return month_bounds(first)
    begin, finish = parse_instant(start, name="start"), parse_instant(end, name="end")
    check_period(start=begin, end=finish)
    return begin, finish
