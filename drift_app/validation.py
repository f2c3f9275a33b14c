"""Validation of ingestion payloads.

A hand-written validator rather than a DRF ListSerializer: at 1,000 records per request DRF's
per-field machinery costs more than the database insert (measured in bench/ingest.py), and the
error format here names the record index, the field and the problem in one flat list.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.dateparse import parse_datetime

FIELDS = {"external_id", "prompt", "response", "model_version", "timestamp", "metadata", "scores"}
MAX_SCORES = 20
MAX_SCORE_NAME = 50
_SCORE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
REQUIRED = ("external_id", "prompt", "response", "timestamp")


@dataclass(frozen=True)
class SampleIn:
    external_id: str
    prompt: str
    response: str
    model_version: str
    client_timestamp: dt.datetime
    metadata: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)


@dataclass
class Problem:
    index: int | None
    field: str
    problem: str

    def as_dict(self) -> dict:
        d = {"field": self.field, "problem": self.problem}
        if self.index is not None:
            d = {"index": self.index, **d}
        return d


class PayloadInvalid(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(f"{p.index}:{p.field}: {p.problem}" for p in problems[:5]))
        self.problems = problems


def parse_iso_datetime(raw: Any) -> tuple[dt.datetime | None, str | None]:
    """(value, None) for an ISO 8601 date-time with a time zone, else (None, the problem in words)."""
    if not isinstance(raw, str):
        return None, f"must be an ISO 8601 string, got {type(raw).__name__}"
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        return None, f"is not a valid ISO 8601 date-time: {raw[:40]!r}"
    if value.tzinfo is None:
        return None, "must include a time zone offset (e.g. Z or +00:00)"
    return value, None


def _text(rec: dict, name: str, idx, problems: list[Problem], *, max_chars: int, allow_empty: bool = False) -> str | None:
    value = rec.get(name)
    if value is None:
        problems.append(Problem(idx, name, "is required"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(idx, name, f"must be a string, got {type(value).__name__}"))
        return None
    if "\x00" in value:
        problems.append(Problem(idx, name, "must not contain NUL (\\u0000) characters"))
        return None
    if not allow_empty and not value.strip():
        problems.append(Problem(idx, name, "must not be empty"))
        return None
    if len(value) > max_chars:
        problems.append(Problem(idx, name, f"is {len(value)} characters long; the limit is {max_chars}"))
        return None
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _scores(rec: dict, idx, problems: list[Problem]) -> dict:
    """Optional {name: number} quality scores: names free (letters, digits, _ . -), numbers only, finite."""
    raw = rec.get("scores")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(idx, "scores", f"must be a JSON object of name: number, got {type(raw).__name__}"))
        return {}
    if len(raw) > MAX_SCORES:
        problems.append(Problem(idx, "scores", f"has {len(raw)} scores; the limit is {MAX_SCORES}"))
        return {}
    out = {}
    for name, value in raw.items():
        if not (isinstance(name, str) and len(name) <= MAX_SCORE_NAME and _SCORE_NAME.match(name)):
            problems.append(Problem(idx, "scores", f"score name {str(name)[:60]!r} must start with a letter and use "
                                                   f"only letters, digits, _ . - (at most {MAX_SCORE_NAME} characters)"))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(Problem(idx, f"scores.{name}", f"must be a number, got {type(value).__name__}"))
            continue
        if not math.isfinite(value):
            problems.append(Problem(idx, f"scores.{name}", "must be a finite number"))
            continue
        out[name] = value
    return out


def parse_samples(
    payload: Any, *, default_model_version: str, max_batch: int, max_prompt_chars: int, max_response_chars: int,
) -> tuple[list[SampleIn], bool]:
    """Validate one record or a list of records. Returns (records, was_list); raises PayloadInvalid."""
    was_list = isinstance(payload, list)
    records = payload if was_list else [payload]
    if not was_list and not isinstance(payload, dict):
        raise PayloadInvalid([Problem(None, "body", "must be a JSON object or a list of objects")])
    if not records:
        raise PayloadInvalid([Problem(None, "body", "the list of samples is empty")])
    if len(records) > max_batch:
        raise PayloadInvalid([Problem(None, "body", f"{len(records)} samples in one request; the limit is {max_batch}")])

    problems: list[Problem] = []
    out: list[SampleIn] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(records):
        idx = i if was_list else None
        if not isinstance(rec, dict):
            problems.append(Problem(idx, "body", f"each sample must be a JSON object, got {type(rec).__name__}"))
            continue
        unknown = set(rec) - FIELDS
        if unknown:
            problems.append(Problem(idx, sorted(unknown)[0], f"unknown field; allowed fields are {', '.join(sorted(FIELDS))}"))
        n_before = len(problems)
        external_id = _text(rec, "external_id", idx, problems, max_chars=200)
        prompt = _text(rec, "prompt", idx, problems, max_chars=max_prompt_chars)
        response = _text(rec, "response", idx, problems, max_chars=max_response_chars, allow_empty=True)
        model_version = default_model_version
        if rec.get("model_version") is not None:
            model_version = _text(rec, "model_version", idx, problems, max_chars=200)
        ts_raw = rec.get("timestamp")
        ts = None
        if ts_raw is None:
            problems.append(Problem(idx, "timestamp", "is required (ISO 8601 with a time zone)"))
        else:
            ts, problem = parse_iso_datetime(ts_raw)
            if problem:
                problems.append(Problem(idx, "timestamp", problem))
        metadata = rec.get("metadata", {})
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            problems.append(Problem(idx, "metadata", f"must be a JSON object, got {type(metadata).__name__}"))
        elif _has_nul(metadata):
            problems.append(Problem(idx, "metadata", "must not contain NUL (\\u0000) characters"))
        scores = _scores(rec, idx, problems)
        if external_id is not None:
            if external_id in seen:
                problems.append(Problem(idx, "external_id", f"duplicates the external_id of sample {seen[external_id]} in this request"))
            seen[external_id] = i
        if len(problems) == n_before:
            out.append(SampleIn(external_id, prompt, response, model_version, ts, metadata, scores))
        if len(problems) >= 100:
            break
    if problems:
        raise PayloadInvalid(problems)
    return out, was_list
