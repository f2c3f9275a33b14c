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

# PostgreSQL stores time-zone offsets up to 15:59 (and Python's datetime up to 23:59): anything beyond
# is accepted by the parser but refused by the database, so it is refused here, at the edge.
MAX_UTC_OFFSET = dt.timedelta(hours=15, minutes=59)

FIELDS = {"external_id", "prompt", "prompt_system", "response", "model_version", "timestamp", "metadata", "scores"}
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
    # The system/developer part of the prompt, kept apart so drift embeds only what users wrote (`prompt`).
    prompt_system: str = ""


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
    problem = datetime_problem(value)
    if problem:
        return None, problem
    return value, None


def datetime_problem(value: dt.datetime) -> str | None:
    """The problem with an aware date-time PostgreSQL or Python cannot store and read back, else None.

    Offsets beyond ±15:59 are refused by PostgreSQL; an instant whose UTC value falls before year 1
    or after 9999 is stored by PostgreSQL but cannot be read back into Python (every later read 500s).
    """
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        return "has a time zone offset beyond ±15:59, which cannot be stored"
    try:
        value.astimezone(dt.timezone.utc)
    except OverflowError:
        return "falls outside the years 1 to 9999 in UTC"
    return None


def text_problem(value: str) -> str | None:
    """NUL characters and lone surrogates cannot be stored by PostgreSQL (nor encoded as UTF-8)."""
    if "\x00" in value:
        return "must not contain NUL (\\u0000) characters"
    if has_surrogate(value):
        return "must not contain lone surrogates (\\ud800-\\udfff): it is not valid Unicode text"
    return None


def has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _text(rec: dict, name: str, idx, problems: list[Problem], *, max_chars: int, allow_empty: bool = False) -> str | None:
    value = rec.get(name)
    if value is None:
        problems.append(Problem(idx, name, "is required"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(idx, name, f"must be a string, got {type(value).__name__}"))
        return None
    problem = text_problem(value)
    if problem:
        problems.append(Problem(idx, name, problem))
        return None
    if not allow_empty and not value.strip():
        problems.append(Problem(idx, name, "must not be empty"))
        return None
    if len(value) > max_chars:
        problems.append(Problem(idx, name, f"is {len(value)} characters long; the limit is {max_chars}"))
        return None
    return value


def checked_text(value: Any, name: str, *, max_chars: int, allow_empty: bool = False) -> tuple[str | None, str | None]:
    """(value, None) when `value` passes the checks a posted sample's text field gets, else (None, "<name> <problem>")."""
    problems: list[Problem] = []
    text = _text({name: value}, name, None, problems, max_chars=max_chars, allow_empty=allow_empty)
    return (text, None) if not problems else (None, f"{name} {problems[0].problem}")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return has_surrogate(value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
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


def parse_scores(raw: Any) -> tuple[dict, list[Problem]]:
    """Validate a {name: number} scores object the way ingestion does; (scores, problems)."""
    problems: list[Problem] = []
    return _scores({"scores": raw}, None, problems), problems


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
        prompt_system = ""
        if rec.get("prompt_system") is not None:
            prompt_system = _text(rec, "prompt_system", idx, problems, max_chars=max_prompt_chars, allow_empty=True)
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
        elif _has_surrogate(metadata):
            problems.append(Problem(idx, "metadata", "must not contain lone surrogates: it is not valid Unicode text"))
        scores = _scores(rec, idx, problems)
        if external_id is not None:
            if external_id in seen:
                problems.append(Problem(idx, "external_id", f"duplicates the external_id of sample {seen[external_id]} in this request"))
            seen[external_id] = i
        if len(problems) == n_before:
            out.append(SampleIn(external_id, prompt, response, model_version, ts, metadata, scores, prompt_system))
        if len(problems) >= 100:
            break
    if problems:
        raise PayloadInvalid(problems)
    return out, was_list


# --- The edge for every API and page ------------------------------------------------------------

# JSON deeper than this is refused before anything walks it (Python's recursion limit is ~1,000).
MAX_JSON_DEPTH = 64


class JSONProblem(ValueError):
    """A JSON body that parses but cannot be stored: the message names where and what."""


def _finite_float(raw: str) -> float:
    value = float(raw)
    if value != value or value in (float("inf"), float("-inf")):
        raise JSONProblem(f"the number {raw[:40]} is out of range (non-finite numbers cannot be stored)")
    return value


def _no_constant(raw: str):
    raise JSONProblem(f"{raw} is not valid JSON (non-finite numbers cannot be stored)")


def json_problem(data: Any, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Walk parsed JSON without recursion: the first lone surrogate or excessive depth, in words."""
    stack: list[tuple[Any, str, int]] = [(data, "$", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > max_depth:
            return f"{path}: nested more than {max_depth} levels deep"
        if isinstance(value, str):
            if has_surrogate(value):
                return f"{path}: contains a lone surrogate (\\ud800-\\udfff); it is not valid Unicode text"
        elif isinstance(value, dict):
            for key, item in value.items():
                if has_surrogate(key):
                    return f"{path}: a key contains a lone surrogate; it is not valid Unicode text"
                stack.append((item, f"{path}.{key[:40]}", depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
    return None


def loads_strict(text: str | bytes) -> Any:
    """json.loads that refuses what PostgreSQL cannot store; raises ValueError naming the place.

    Non-finite numbers (NaN, Infinity, 1e400), lone surrogates and nesting beyond MAX_JSON_DEPTH.
    """
    import json

    try:
        data = json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise JSONProblem(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    problem = json_problem(data)
    if problem:
        raise JSONProblem(problem)
    return data


def parse_id_list(values, *, name: str) -> list[int]:
    """Form ids as ASCII decimal integers ("²".isdigit() is true but int("²") fails); ValueError names the field."""
    import re

    out = []
    for raw in values:
        raw = str(raw).strip()
        if not re.fullmatch(r"[0-9]{1,18}", raw):
            raise ValueError(f"{name}: {raw[:40]!r} is not an id (a whole number)")
        out.append(int(raw))
    return out


def safe_next_url(request, url: str | None, fallback: str) -> str:
    """`url` when it points at this site (no open redirect to another host), else `fallback`."""
    from django.utils.http import url_has_allowed_host_and_scheme

    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return url
    return fallback


# A cell starting with one of these is read as a formula by spreadsheets (CSV/formula injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """Neutralise a CSV cell a spreadsheet would evaluate: prefix it with a single quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def checked_datetime(value: dt.datetime, *, name: str) -> dt.datetime:
    """`value`, or ValueError naming `name` when PostgreSQL cannot store it (see datetime_problem)."""
    if value.tzinfo is not None:
        problem = datetime_problem(value)
        if problem:
            raise ValueError(f"{name} {problem}.")
    return value


# Windows, months and defaults (end - 28 days) are computed from a given instant; one at the very edge
# of Python's calendar overflows there. Years 2..9998 leave room for any window of up to a year.
MIN_YEAR, MAX_YEAR = 2, 9998


def calendar_problem(value: dt.datetime | dt.date) -> str | None:
    """The problem with a date too close to the edge of the calendar to compute windows from, else None."""
    if isinstance(value, dt.datetime):
        problem = datetime_problem(value) if value.tzinfo is not None else None
        if problem:
            return problem
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return f"must fall within the years {MIN_YEAR} to {MAX_YEAR}"
    return None
