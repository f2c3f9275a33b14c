"""Validation and content hashing shared by the golden-set services."""

from __future__ import annotations

import hashlib
import json
import logging

from django.core.exceptions import ValidationError

from drift_app.stats import scoring

from ..models import (
    GoldenItem,
    GoldenItemEvent,
)
from ..pii import find_pii, pii_digest_input

logger = logging.getLogger(__name__)

Status = GoldenItem.Status
Action = GoldenItemEvent.Action



MAX_PROMPT_CHARS = 8000
MAX_ANSWER_CHARS = 16000
MAX_CATEGORY_CHARS = 100
MAX_TAGS = 20
# Prompts at or above this cosine similarity to an existing item are near-duplicates (issue 4).
NEAR_DUPLICATE_SIMILARITY = 0.95
SOURCES = {c.value for c in GoldenItem.Source}
IMPORT_FIELDS = ("prompt", "reference_answer", "category", "tags", "must_include", "must_not_include", "regex", "acceptance")


# --- validation ------------------------------------------------------------------------------------

def _text_problems(name: str, value, *, limit: int) -> list[tuple[str, str]]:
    if value is None:
        return [(name, "is required")]
    if not isinstance(value, str):
        return [(name, f"must be a string, got {type(value).__name__}")]
    if "\x00" in value:
        return [(name, "must not contain NUL characters")]
    if not value.strip():
        return [(name, "must not be empty")]
    if len(value) > limit:
        return [(name, f"is {len(value)} characters long; the limit is {limit}")]
    return []


def item_field_problems(*, prompt, reference_answer, category, tags, acceptance) -> list[tuple[str, str]]:
    """(field, problem) for every invalid field of an item; empty when the item is valid."""
    problems = _text_problems("prompt", prompt, limit=MAX_PROMPT_CHARS)
    problems += _text_problems("reference_answer", reference_answer, limit=MAX_ANSWER_CHARS)
    problems += _text_problems("category", category, limit=MAX_CATEGORY_CHARS)
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() and len(t) <= 50 for t in tags):
            problems.append(("tags", "must be a list of non-empty strings of at most 50 characters"))
        elif len(tags) > MAX_TAGS:
            problems.append(("tags", f"{len(tags)} tags; the limit is {MAX_TAGS}"))
    problems += scoring.validate_acceptance(acceptance)
    return problems


def _raise_problems(problems: list[tuple[str, str]]) -> None:
    if problems:
        errors: dict[str, list[str]] = {}
        for name, problem in problems:
            errors.setdefault(name, []).append(problem)
        raise ValidationError(errors)


def _clean_tags(tags: list[str] | None) -> list[str]:
    return sorted({t.strip().lower() for t in tags or [] if t.strip()})


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": "A reason is required for every change to the golden set."})
    return reason.strip()


# --- hashing ---------------------------------------------------------------------------------------

def canonical_item(*, item_id: int, prompt: str, reference_answer: str, category: str, tags, acceptance) -> dict:
    return {
        "id": item_id, "prompt": prompt, "reference_answer": reference_answer, "category": category,
        "tags": sorted(tags or []), "acceptance": scoring.clean_acceptance(acceptance),
    }


def _sha256(obj) -> str:
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def item_content_hash(item: GoldenItem) -> str:
    return _sha256(canonical_item(
        item_id=item.id, prompt=item.prompt, reference_answer=item.reference_answer, category=item.category,
        tags=item.tags, acceptance=item.acceptance,
    ))


def version_content_hash(item_hashes: dict[int, str]) -> str:
    """Hash of a version: sha256 over "id:item_hash" lines sorted by id. Stable across processes."""
    lines = "\n".join(f"{i}:{item_hashes[i]}" for i in sorted(item_hashes))
    return hashlib.sha256(lines.encode()).hexdigest()


def _pii_digest(item: GoldenItem) -> str:
    return hashlib.sha256(pii_digest_input(item.prompt, item.reference_answer).encode()).hexdigest()


def item_pii(item: GoldenItem) -> dict[str, list]:
    return {"prompt": find_pii(item.prompt), "reference_answer": find_pii(item.reference_answer)}


def item_pii_blocks(item: GoldenItem) -> bool:
    """True when the item holds PII that nobody acknowledged for its current text."""
    found = item_pii(item)
    return bool(found["prompt"] or found["reference_answer"]) and item.pii_ack_digest != _pii_digest(item)
